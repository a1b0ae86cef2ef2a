/* SPDX-License-Identifier: MIT */
/*
 * test_http: http_fetch() against a scripted HTTP/1.1 server on 127.0.0.1.
 *
 * The server is one pthread polling a listening socket (port 0) and its
 * connections. Each request gets a canned answer chosen by its path (see
 * srv_route()); answers can be delayed, cut short or never sent. The server
 * counts hits per route, open connections and requests being answered, and
 * keeps the headers it was sent, so the tests can check what the client
 * did on the wire. A fixture starts a server and a client per test and
 * stops both at the end.
 *
 * Known bugs of src/ found by these tests are checked in test_http_bug_*
 * cases, which skip (not fail) while the bug is present.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

/* src/http.c, non-static under IDRFS_UNITTEST. */
int http_status_to_errno(CURLcode cc, long status, bool overflow,
			 bool deadline_passed, const char *url,
			 const char *detail);
int http_parse_crange(const char *v, uint64_t *start, uint64_t *end,
		      int64_t *total);
void http_trace_redact(bool header, const char *line, size_t len, char *out,
		       size_t outsz);
uint64_t http_client_start_at(struct http_client *c);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the scripted server ---------------------------------------------- */

#define SRV_MAX_CONNS	 64
#define SRV_IN_MAX	 8192
#define SRV_RESOURCE_LEN 1000
#define SRV_SLOW_MS	 20

enum srv_route_id {
	ROUTE_OK,
	ROUTE_MISSING,
	ROUTE_GONE,
	ROUTE_FORBIDDEN,
	ROUTE_UNAUTHORIZED,
	ROUTE_REDIRECT,
	ROUTE_BAD_REQUEST,
	ROUTE_GATEWAY_TIMEOUT,
	ROUTE_FLAKY,
	ROUTE_DOWN,
	ROUTE_BUSY,
	ROUTE_SHORT,
	ROUTE_BIG,
	ROUTE_BIG_UNSIZED,
	ROUTE_HANG,
	ROUTE_RANGE,
	ROUTE_SLOW,
	ROUTE_EMPTY_AFTER_503,
	ROUTE_HEAD,
	ROUTE_BUSY_LONG,
	ROUTE_BUSY_HUGE,
	ROUTE_COOKIE,
	ROUTE_RANGE_BAD,
	ROUTE_UNKNOWN,
	ROUTE_COUNT,
};

static const char *const route_paths[ROUTE_UNKNOWN] = {
	[ROUTE_OK] = "/ok",
	[ROUTE_MISSING] = "/missing",
	[ROUTE_GONE] = "/gone",
	[ROUTE_FORBIDDEN] = "/forbidden",
	[ROUTE_UNAUTHORIZED] = "/unauthorized",
	[ROUTE_REDIRECT] = "/redirect",
	[ROUTE_BAD_REQUEST] = "/bad-request",
	[ROUTE_GATEWAY_TIMEOUT] = "/gateway-timeout",
	[ROUTE_FLAKY] = "/flaky",
	[ROUTE_DOWN] = "/down",
	[ROUTE_BUSY] = "/busy",
	[ROUTE_SHORT] = "/short",
	[ROUTE_BIG] = "/big",
	[ROUTE_BIG_UNSIZED] = "/big-unsized",
	[ROUTE_HANG] = "/hang",
	[ROUTE_RANGE] = "/range",
	[ROUTE_SLOW] = "/slow",
	[ROUTE_EMPTY_AFTER_503] = "/empty-after-503",
	[ROUTE_HEAD] = "/head",
	[ROUTE_BUSY_LONG] = "/busy-long",
	[ROUTE_BUSY_HUGE] = "/busy-huge",
	[ROUTE_COOKIE] = "/cookie",
	[ROUTE_RANGE_BAD] = "/range-bad",
};

/* The session cookie /cookie sets: it must never reach the log. */
#define SRV_COOKIE_SECRET "s3cr3t-session-4242"

struct srv_reply {
	char *buf;
	size_t len;
	unsigned delay_ms;
	bool close_after; /* close the connection once sent */
	bool hang;	  /* never answer */
};

struct srv_conn {
	int fd;
	char in[SRV_IN_MAX];
	size_t inlen;
	bool busy; /* a request is being answered (or hangs) */
	uint64_t respond_at;
	struct srv_reply reply;
};

struct srv {
	int lfd;
	int port;
	int wake[2];
	pthread_t th;
	pthread_mutex_t lock; /* protects everything below */
	unsigned hits[ROUTE_COUNT];
	unsigned conns_open, conns_max, conns_total;
	unsigned active, active_max; /* requests being answered */
	char range[128];	     /* Range: of the last /range request */
	char user_agent[128];	     /* User-Agent: of the last /ok */
	bool range_accept_encoding;  /* /range asked for compression */
	bool ok_accept_encoding;     /* /ok asked for compression */
	/* as a proxy: requests with an absolute URL ("GET http://...") */
	unsigned proxied;
	bool squid_down;      /* answer them with squid's own 503 */
	bool proxied_nocache; /* one had Pragma or Cache-Control */
	struct srv_conn conns[SRV_MAX_CONNS];
};

static void reply_printf(struct srv_reply *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply_printf(struct srv_reply *rp, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	rp->buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!rp->buf)
		abort(); /* server thread: no cmocka assert here */
	va_start(ap, fmt);
	vsnprintf(rp->buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rp->len = (size_t)n;
}

/* A complete answer: status line, headers, Content-Length, body. */
static void reply_full(struct srv_reply *rp, int status, const char *reason,
		       const char *headers, const char *body)
{
	reply_printf(rp, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n%s",
		     status, reason, strlen(body), headers, body);
}

/* A body of n bytes of a fixed pattern after the given head. */
static void reply_sized(struct srv_reply *rp, const char *head, size_t n)
{
	size_t hl = strlen(head);

	rp->buf = malloc(hl + n + 1);
	if (!rp->buf)
		abort(); /* server thread: no cmocka assert here */
	memcpy(rp->buf, head, hl);
	for (size_t i = 0; i < n; i++)
		rp->buf[hl + i] = (char)('a' + i % 26);
	rp->buf[hl + n] = '\0';
	rp->len = hl + n;
}

/* The value of a request header, copied to out; false if absent. */
static bool header_value(const char *head, const char *name, char *out,
			 size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		const char *line = p + 2;
		const char *end = strstr(line, "\r\n");
		size_t vl;

		if (!end)
			break;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			line += nl + 1;
			while (*line == ' ')
				line++;
			vl = (size_t)(end - line);
			if (vl >= outsz)
				vl = outsz - 1;
			memcpy(out, line, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* The resource /range serves: byte i is (i * 7) & 0xff. */
static char resource_byte(uint64_t i)
{
	return (char)((i * 7) & 0xff);
}

static void route_range(struct srv *s, const char *head, struct srv_reply *rp)
{
	char v[128] = "";
	unsigned long long a, b;
	char extra;
	char h[256];

	if (!header_value(head, "Range", v, sizeof(v)))
		v[0] = '\0';
	pthread_mutex_lock(&s->lock);
	snprintf(s->range, sizeof(s->range), "%s", v);
	s->range_accept_encoding = header_value(head, "Accept-Encoding", h, 8);
	pthread_mutex_unlock(&s->lock);
	/* the server checks the header: bytes=a-b inside the resource */
	if (sscanf(v, "bytes=%llu-%llu%c", &a, &b, &extra) != 2 || a > b ||
	    b >= SRV_RESOURCE_LEN) {
		reply_full(rp, 416, "Range Not Satisfiable",
			   "Content-Type: text/plain\r\n", "");
		return;
	}
	snprintf(h, sizeof(h),
		 "HTTP/1.1 206 Partial Content\r\nContent-Type: "
		 "application/octet-stream\r\nContent-Range: bytes %llu-%llu/%d"
		 "\r\nContent-Length: %llu\r\n\r\n",
		 a, b, SRV_RESOURCE_LEN, b - a + 1);
	reply_sized(rp, h, (size_t)(b - a + 1));
	for (unsigned long long i = a; i <= b; i++)
		rp->buf[strlen(h) + (i - a)] = resource_byte(i);
}

/*
 * /range-bad?KIND: a 206 that is not the range asked for (bytes=a-b):
 * start (shifted by one), none (no Content-Range), len (one byte short of
 * its Content-Range), end (ends before b, not at the end of the resource)
 * and the good ones: star (total "*"), eof (short, ends at the total).
 */
static void route_range_bad(const char *path, const char *head,
			    struct srv_reply *rp)
{
	const char *kind = strchr(path, '?');
	unsigned long long a = 0, b = 0, cs, ce, n;
	char v[128] = "", cr[128], h[512], total[32];

	kind = kind ? kind + 1 : "";
	if (!header_value(head, "Range", v, sizeof(v)) ||
	    sscanf(v, "bytes=%llu-%llu", &a, &b) != 2 || a >= b) {
		reply_full(rp, 416, "Range Not Satisfiable", "", "");
		return;
	}
	cs = a;
	ce = b;
	n = b - a + 1;
	snprintf(total, sizeof(total), "%d", SRV_RESOURCE_LEN);
	if (strcmp(kind, "start") == 0) {
		cs = a + 1;
		ce = b + 1;
	} else if (strcmp(kind, "len") == 0) {
		n--;
	} else if (strcmp(kind, "end") == 0) {
		ce = b - 1;
		n--;
	} else if (strcmp(kind, "eof") == 0) {
		ce = b - 1;
		n--;
		snprintf(total, sizeof(total), "%llu", b);
	} else if (strcmp(kind, "star") == 0) {
		snprintf(total, sizeof(total), "*");
	}
	snprintf(cr, sizeof(cr), "Content-Range: bytes %llu-%llu/%s\r\n", cs,
		 ce, total);
	snprintf(h, sizeof(h),
		 "HTTP/1.1 206 Partial Content\r\n%sContent-Length: %llu\r\n"
		 "\r\n",
		 strcmp(kind, "none") == 0 ? "" : cr, n);
	reply_sized(rp, h, (size_t)n);
}

/* Choose the canned answer of a request. */
static void srv_route(struct srv *s, const char *method, const char *path,
		      const char *head, struct srv_reply *rp)
{
	enum srv_route_id r = ROUTE_UNKNOWN;
	size_t best = 0;
	unsigned hit;
	char h[256];

	for (int i = 0; i < ROUTE_UNKNOWN; i++) {
		size_t n = strlen(route_paths[i]);

		if (strncmp(path, route_paths[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '?' || path[n] == '/') &&
		    n > best) {
			r = (enum srv_route_id)i;
			best = n;
		}
	}
	pthread_mutex_lock(&s->lock);
	hit = ++s->hits[r];
	pthread_mutex_unlock(&s->lock);

	switch (r) {
	case ROUTE_OK:
		pthread_mutex_lock(&s->lock);
		if (!header_value(head, "User-Agent", s->user_agent,
				  sizeof(s->user_agent)))
			s->user_agent[0] = '\0';
		s->ok_accept_encoding =
			header_value(head, "Accept-Encoding", h, sizeof(h));
		pthread_mutex_unlock(&s->lock);
		reply_full(rp, 200, "OK",
			   "Content-Type: application/json; charset=utf-8\r\n",
			   "{\"data\": [1, 2, 3]}");
		break;
	case ROUTE_MISSING:
		reply_full(rp, 404, "Not Found",
			   "Content-Type: application/json\r\n",
			   "{\"message\": \"Image 123 not found\"}");
		break;
	case ROUTE_GONE:
		reply_full(rp, 410, "Gone", "", "");
		break;
	case ROUTE_FORBIDDEN:
		reply_full(rp, 403, "Forbidden", "", "");
		break;
	case ROUTE_UNAUTHORIZED:
		reply_full(rp, 401, "Unauthorized", "", "");
		break;
	case ROUTE_REDIRECT:
		reply_full(rp, 302, "Found", "Location: /ok\r\n", "");
		break;
	case ROUTE_BAD_REQUEST:
		reply_full(rp, 400, "Bad Request",
			   "Content-Type: application/json\r\n",
			   "{\"message\": \"invalid literal for int() with "
			   "base 10: 'foo'\"}");
		break;
	case ROUTE_GATEWAY_TIMEOUT:
		reply_full(rp, 504, "Gateway Timeout", "", "");
		break;
	case ROUTE_FLAKY:
		/* 503 twice, then 200 */
		if (hit <= 2)
			reply_full(rp, 503, "Service Unavailable",
				   "Content-Type: text/html\r\n",
				   "<html>busy</html>");
		else
			reply_full(rp, 200, "OK",
				   "Content-Type: application/json\r\n",
				   "{\"third\": true}");
		break;
	case ROUTE_DOWN:
		reply_full(rp, 503, "Service Unavailable", "", "down");
		break;
	case ROUTE_BUSY:
		/* 429 with Retry-After: 0 once, then 200 */
		if (hit == 1)
			reply_full(rp, 429, "Too Many Requests",
				   "Retry-After: 0\r\n", "");
		else
			reply_full(rp, 200, "OK", "", "calm");
		break;
	case ROUTE_SHORT:
		/* 100 bytes announced, 10 sent, then the connection closes */
		reply_printf(rp, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
				 "\r\n0123456789");
		rp->close_after = true;
		break;
	case ROUTE_BIG:
		reply_sized(rp,
			    "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n",
			    65536);
		break;
	case ROUTE_BIG_UNSIZED:
		/* no Content-Length: the body ends when the server closes */
		reply_sized(rp, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
			    65536);
		rp->close_after = true;
		break;
	case ROUTE_HANG:
		rp->hang = true;
		break;
	case ROUTE_RANGE:
		route_range(s, head, rp);
		break;
	case ROUTE_SLOW:
		/* echo the path, a little later */
		reply_full(rp, 200, "OK", "Content-Type: text/plain\r\n", path);
		rp->delay_ms = SRV_SLOW_MS;
		break;
	case ROUTE_EMPTY_AFTER_503:
		if (hit == 1)
			reply_full(rp, 503, "Service Unavailable",
				   "Content-Type: text/plain\r\n",
				   "Service Unavailable, try later");
		else
			reply_full(rp, 200, "OK", "", "");
		break;
	case ROUTE_HEAD:
		if (strcmp(method, "HEAD") == 0)
			reply_printf(rp, "HTTP/1.1 200 OK\r\nContent-Length: "
					 "1234\r\nContent-Type: image/tiff\r\n"
					 "\r\n");
		else
			reply_full(rp, 405, "Method Not Allowed", "", "");
		break;
	case ROUTE_BUSY_LONG:
		/* come back in an hour */
		reply_full(rp, 429, "Too Many Requests",
			   "Retry-After: 3600\r\n", "");
		break;
	case ROUTE_COOKIE:
		reply_full(rp, 200, "OK",
			   "Set-Cookie: sessionid=" SRV_COOKIE_SECRET
			   "; Path=/; HttpOnly\r\n",
			   "{}");
		break;
	case ROUTE_RANGE_BAD:
		route_range_bad(path, head, rp);
		break;
	case ROUTE_BUSY_HUGE:
		/* come back in more seconds than a long holds milliseconds */
		reply_full(rp, 429, "Too Many Requests",
			   "Retry-After: 99999999999999999999\r\n", "");
		break;
	default:
		reply_full(rp, 404, "Not Found", "", "no such route");
		break;
	}
}

static void srv_close_conn(struct srv *s, struct srv_conn *k)
{
	close(k->fd);
	k->fd = -1;
	k->inlen = 0;
	free(k->reply.buf);
	memset(&k->reply, 0, sizeof(k->reply));
	pthread_mutex_lock(&s->lock);
	s->conns_open--;
	if (k->busy)
		s->active--;
	pthread_mutex_unlock(&s->lock);
	k->busy = false;
}

static void srv_process(struct srv *s, struct srv_conn *k);

static void srv_send(struct srv *s, struct srv_conn *k)
{
	size_t off = 0;
	bool close_after = k->reply.close_after;

	while (off < k->reply.len) {
		ssize_t n = send(k->fd, k->reply.buf + off, k->reply.len - off,
				 MSG_NOSIGNAL);

		if (n <= 0) {
			close_after = true;
			break;
		}
		off += (size_t)n;
	}
	if (close_after) {
		/* still busy: srv_close_conn() counts the request out */
		srv_close_conn(s, k);
		return;
	}
	free(k->reply.buf);
	memset(&k->reply, 0, sizeof(k->reply));
	pthread_mutex_lock(&s->lock);
	s->active--;
	pthread_mutex_unlock(&s->lock);
	k->busy = false;
	srv_process(s, k);
}

/* Answer the next complete request in the buffer, if any. */
static void srv_process(struct srv *s, struct srv_conn *k)
{
	char *end;
	char method[16], path[1024];
	size_t used;

	if (k->busy || k->fd < 0)
		return;
	k->in[k->inlen] = '\0';
	end = strstr(k->in, "\r\n\r\n");
	if (!end)
		return;
	used = (size_t)(end - k->in) + 4;
	end[2] = '\0'; /* keep the last header's CRLF for header_value() */
	if (sscanf(k->in, "%15s %1023s", method, path) != 2) {
		method[0] = '\0';
		path[0] = '\0';
	}
	memset(&k->reply, 0, sizeof(k->reply));
	if (strncmp(path, "http://", 7) == 0) {
		/* a proxy's request: serve the origin's path ourselves */
		const char *rest = path + 7 + strcspn(path + 7, "/");
		char h[64];
		bool down;

		memmove(path, rest, strlen(rest) + 1);
		pthread_mutex_lock(&s->lock);
		s->proxied++;
		down = s->squid_down;
		if (header_value(k->in, "Pragma", h, sizeof(h)) ||
		    header_value(k->in, "Cache-Control", h, sizeof(h)))
			s->proxied_nocache = true;
		pthread_mutex_unlock(&s->lock);
		if (down)
			reply_full(&k->reply, 503, "Service Unavailable",
				   "Server: squid\r\nX-Squid-Error: "
				   "ERR_CONNECT_FAIL 111\r\n",
				   "<html>squid: the origin is down</html>");
		else
			srv_route(s, method, path, k->in, &k->reply);
	} else {
		srv_route(s, method, path, k->in, &k->reply);
	}
	memmove(k->in, k->in + used, k->inlen - used);
	k->inlen -= used;
	k->busy = true;
	pthread_mutex_lock(&s->lock);
	s->active++;
	if (s->active > s->active_max)
		s->active_max = s->active;
	pthread_mutex_unlock(&s->lock);
	if (k->reply.hang)
		return;
	k->respond_at = http_now_ms() + k->reply.delay_ms;
	if (k->reply.delay_ms == 0)
		srv_send(s, k);
}

static void srv_accept(struct srv *s)
{
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return;
	for (int i = 0; i < SRV_MAX_CONNS; i++) {
		struct srv_conn *k = &s->conns[i];

		if (k->fd >= 0)
			continue;
		k->fd = fd;
		k->inlen = 0;
		k->busy = false;
		pthread_mutex_lock(&s->lock);
		s->conns_open++;
		s->conns_total++;
		if (s->conns_open > s->conns_max)
			s->conns_max = s->conns_open;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	close(fd); /* full */
}

static void srv_read(struct srv *s, struct srv_conn *k)
{
	ssize_t n;

	if (k->inlen >= SRV_IN_MAX - 1) {
		srv_close_conn(s, k);
		return;
	}
	n = recv(k->fd, k->in + k->inlen, SRV_IN_MAX - 1 - k->inlen, 0);
	if (n <= 0) {
		srv_close_conn(s, k);
		return;
	}
	k->inlen += (size_t)n;
	srv_process(s, k);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd pfd[2 + SRV_MAX_CONNS];
		int map[2 + SRV_MAX_CONNS];
		nfds_t np = 0;
		int timeout = -1;
		uint64_t now = http_now_ms();

		pfd[np].fd = s->wake[0];
		pfd[np].events = POLLIN;
		np++;
		pfd[np].fd = s->lfd;
		pfd[np].events = POLLIN;
		np++;
		for (int i = 0; i < SRV_MAX_CONNS; i++) {
			struct srv_conn *k = &s->conns[i];

			if (k->fd < 0)
				continue;
			pfd[np].fd = k->fd;
			pfd[np].events = POLLIN;
			map[np] = i;
			np++;
			if (k->busy && !k->reply.hang) {
				int t = k->respond_at > now
						? (int)(k->respond_at - now)
						: 0;

				if (timeout < 0 || t < timeout)
					timeout = t;
			}
		}
		if (poll(pfd, np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			srv_accept(s);
		for (nfds_t j = 2; j < np; j++) {
			if (pfd[j].revents && s->conns[map[j]].fd >= 0)
				srv_read(s, &s->conns[map[j]]);
		}
		now = http_now_ms();
		for (int i = 0; i < SRV_MAX_CONNS; i++) {
			struct srv_conn *k = &s->conns[i];

			if (k->fd >= 0 && k->busy && !k->reply.hang &&
			    k->respond_at <= now)
				srv_send(s, k);
		}
	}
	for (int i = 0; i < SRV_MAX_CONNS; i++) {
		if (s->conns[i].fd >= 0)
			srv_close_conn(s, &s->conns[i]);
	}
	return NULL;
}

static int srv_start_port(int port, struct srv **out);

static int srv_start(struct srv **out)
{
	return srv_start_port(0, out);
}

/* A server on a given loopback port (0: any). */
static int srv_start_port(int port, struct srv **out)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1;

	if (!s)
		return -1;
	for (int i = 0; i < SRV_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		goto fail;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->lfd, 64) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	s->port = ntohs(sa.sin_port);
	if (pipe(s->wake) < 0)
		goto fail;
	if (pthread_create(&s->th, NULL, srv_main, s) != 0) {
		close(s->wake[0]);
		close(s->wake[1]);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return -1;
}

static void srv_stop(struct srv *s)
{
	char c = 'q';

	if (!s)
		return;
	/* wake the server thread; it closes its connections and ends */
	assert_int_equal(write(s->wake[1], &c, 1), 1);
	pthread_join(s->th, NULL);
	close(s->wake[0]);
	close(s->wake[1]);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static unsigned srv_hits(struct srv *s, enum srv_route_id r)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->hits[r];
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- the log, read back ------------------------------------------------ */

static char g_log_path[] = "/tmp/idrfs-test-http-XXXXXX";

/* The whole log so far (NUL-terminated, heap). */
static char *log_read(void)
{
	FILE *f = fopen(g_log_path, "rb");
	char *buf;
	long end;
	size_t n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	end = ftell(f);
	assert_true(end >= 0);
	buf = calloc(1, (size_t)end + 1);
	assert_non_null(buf);
	rewind(f);
	n = fread(buf, 1, (size_t)end, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- fixture: one server and one client per test ----------------------- */

#define TEST_MAX_CONNS	 2
#define TEST_MAX_RETRIES 2

struct env {
	struct srv *srv;
	struct http_client *c;
	char url[256];
};

static const char *url_of(struct env *e, const char *path)
{
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d%s", e->srv->port,
		 path);
	return e->url;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct http_config cfg = {
		.max_conns = TEST_MAX_CONNS,
		.max_retries = TEST_MAX_RETRIES,
		.user_agent = "idrfs-test/1",
		.verbose = false,
	};

	if (!e)
		return -1;
	if (srv_start(&e->srv) < 0) {
		free(e);
		return -1;
	}
	if (http_client_new(&cfg, &e->c) < 0) {
		srv_stop(e->srv);
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	http_client_free(e->c);
	srv_stop(e->srv);
	free(e);
	return 0;
}

/* One GET with a deadline ms from now; the request is left for checks. */
static int get(struct env *e, const char *path, size_t max_body, uint64_t ms,
	       struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->url = url_of(e, path);
	r->max_body = max_body;
	return http_fetch(e->c, r, 1, http_now_ms() + ms);
}

/* ---- status mapping ---------------------------------------------------- */

static void test_http_status_to_errno(void **state)
{
	static const struct {
		CURLcode cc;
		long status;
		bool overflow, deadline;
		int rc;
	} map[] = {
		/* 2xx is success */
		{CURLE_OK, 200, false, false, 0},
		{CURLE_OK, 204, false, false, 0},
		{CURLE_OK, 206, false, false, 0},
		/* 404, 410: no such object */
		{CURLE_OK, 404, false, false, -ENOENT},
		{CURLE_OK, 410, false, false, -ENOENT},
		/* 401, 403: not allowed */
		{CURLE_OK, 401, false, false, -EACCES},
		{CURLE_OK, 403, false, false, -EACCES},
		/* 408, 504, curl's timeout, the deadline: timed out */
		{CURLE_OK, 408, false, false, -ETIMEDOUT},
		{CURLE_OK, 504, false, false, -ETIMEDOUT},
		{CURLE_OPERATION_TIMEDOUT, 0, false, false, -ETIMEDOUT},
		{CURLE_RECV_ERROR, 0, false, true, -ETIMEDOUT},
		/* 5xx and 429 (after the retries): I/O error */
		{CURLE_OK, 500, false, false, -EIO},
		{CURLE_OK, 502, false, false, -EIO},
		{CURLE_OK, 503, false, false, -EIO},
		{CURLE_OK, 599, false, false, -EIO},
		{CURLE_OK, 429, false, false, -EIO},
		/* 1xx, 3xx, other 4xx: protocol error */
		{CURLE_OK, 100, false, false, -EPROTO},
		{CURLE_OK, 301, false, false, -EPROTO},
		{CURLE_OK, 302, false, false, -EPROTO},
		{CURLE_OK, 304, false, false, -EPROTO},
		{CURLE_OK, 400, false, false, -EPROTO},
		{CURLE_OK, 405, false, false, -EPROTO},
		{CURLE_OK, 416, false, false, -EPROTO},
		/* a truncated or badly encoded body */
		{CURLE_PARTIAL_FILE, 200, false, false, -EBADMSG},
		{CURLE_BAD_CONTENT_ENCODING, 200, false, false, -EBADMSG},
		/* over the cap, whatever else happened */
		{CURLE_FILESIZE_EXCEEDED, 200, false, false, -EFBIG},
		{CURLE_WRITE_ERROR, 200, true, false, -EFBIG},
		{CURLE_OK, 200, true, false, -EFBIG},
		{CURLE_OPERATION_TIMEDOUT, 0, true, true, -EFBIG},
		/* connection errors */
		{CURLE_COULDNT_CONNECT, 0, false, false, -ECONNREFUSED},
		{CURLE_COULDNT_RESOLVE_HOST, 0, false, false, -EHOSTUNREACH},
		{CURLE_COULDNT_RESOLVE_PROXY, 0, false, false, -EHOSTUNREACH},
		{CURLE_OUT_OF_MEMORY, 0, false, false, -ENOMEM},
		{CURLE_URL_MALFORMAT, 0, false, false, -EINVAL},
		{CURLE_UNSUPPORTED_PROTOCOL, 0, false, false, -EINVAL},
		/* anything else: I/O error */
		{CURLE_RECV_ERROR, 0, false, false, -EIO},
		{CURLE_SEND_ERROR, 0, false, false, -EIO},
		{CURLE_GOT_NOTHING, 0, false, false, -EIO},
		{CURLE_SSL_CONNECT_ERROR, 0, false, false, -EIO},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(map); i++) {
		int rc = http_status_to_errno(map[i].cc, map[i].status,
					      map[i].overflow, map[i].deadline,
					      "http://127.0.0.1/x", "detail");

		/* the mapping table of http.h and STYLE 2.3 */
		if (rc != map[i].rc)
			fail_msg("curl %d, HTTP %ld, overflow %d, deadline %d: "
				 "%d, expected %d",
				 (int)map[i].cc, map[i].status, map[i].overflow,
				 map[i].deadline, rc, map[i].rc);
	}
	/* NULL detail is allowed */
	assert_int_equal(http_status_to_errno(CURLE_RECV_ERROR, 0, false, false,
					      "http://x/", NULL),
			 -EIO);
}

/* ---- single requests --------------------------------------------------- */

static void test_http_ok_body(void **state)
{
	struct env *e = *state;
	struct http_req r;
	static const char want[] = "{\"data\": [1, 2, 3]}";

	/* 200: body and length exact, NUL-terminated, headers captured */
	assert_int_equal(get(e, "/ok", 1 << 20, 5000, &r), 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.body, want, r.len);
	assert_int_equal(r.body[r.len], '\0');
	assert_string_equal(r.content_type, "application/json; charset=utf-8");
	assert_int_equal(r.content_length, (int64_t)strlen(want));
	assert_int_equal(r.attempts, 1);
	/* the server saw our User-Agent and an Accept-Encoding */
	pthread_mutex_lock(&e->srv->lock);
	assert_string_equal(e->srv->user_agent, "idrfs-test/1");
	assert_true(e->srv->ok_accept_encoding);
	pthread_mutex_unlock(&e->srv->lock);
	/* release frees the body and keeps the inputs */
	http_req_release(&r);
	assert_null(r.body);
	assert_int_equal(r.len, 0);
	assert_non_null(r.url);
}

static void test_http_keepalive(void **state)
{
	struct env *e = *state;
	struct http_req r;

	/* three calls one after the other reuse one connection */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get(e, "/ok", 1 << 20, 5000, &r), 0);
		http_req_release(&r);
	}
	assert_int_equal(srv_hits(e->srv, ROUTE_OK), 3);
	pthread_mutex_lock(&e->srv->lock);
	assert_int_equal(e->srv->conns_total, 1);
	pthread_mutex_unlock(&e->srv->lock);
}

static void test_http_errors_no_retry(void **state)
{
	static const struct {
		const char *path;
		enum srv_route_id route;
		long status;
		int rc;
	} cases[] = {
		{"/missing", ROUTE_MISSING, 404, -ENOENT},
		{"/gone", ROUTE_GONE, 410, -ENOENT},
		{"/forbidden", ROUTE_FORBIDDEN, 403, -EACCES},
		{"/unauthorized", ROUTE_UNAUTHORIZED, 401, -EACCES},
		{"/redirect", ROUTE_REDIRECT, 302, -EPROTO},
		{"/bad-request", ROUTE_BAD_REQUEST, 400, -EPROTO},
	};
	struct env *e = *state;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct http_req r;
		int rc = get(e, cases[i].path, 1 << 20, 5000, &r);

		/* the status maps to its errno after one attempt, no body */
		if (rc != cases[i].rc)
			fail_msg("%s: %d, expected %d", cases[i].path, rc,
				 cases[i].rc);
		assert_int_equal(r.rc, cases[i].rc);
		assert_int_equal(r.status, cases[i].status);
		assert_int_equal(r.attempts, 1);
		assert_null(r.body);
		assert_int_equal(srv_hits(e->srv, cases[i].route), 1);
		http_req_release(&r);
	}
	/* the redirect was not followed */
	assert_int_equal(srv_hits(e->srv, ROUTE_OK), 0);
}

static void test_http_retry_then_ok(void **state)
{
	struct env *e = *state;
	struct http_req r;

	/* 503 twice, then 200: success on the third attempt */
	assert_int_equal(get(e, "/flaky", 1 << 20, 10000, &r), 0);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"third\": true}");
	assert_int_equal(r.len, strlen("{\"third\": true}"));
	/* the 503 pages are not left in front of the body */
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(srv_hits(e->srv, ROUTE_FLAKY), 3);
	http_req_release(&r);
}

static void test_http_retry_exhausted(void **state)
{
	struct env *e = *state;
	struct http_req r;

	char want[128];
	char *log;

	/* 503 forever: -EIO after max_retries + 1 attempts */
	assert_int_equal(get(e, "/down", 1 << 20, 10000, &r), -EIO);
	assert_int_equal(r.rc, -EIO);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.attempts, TEST_MAX_RETRIES + 1);
	assert_int_equal(srv_hits(e->srv, ROUTE_DOWN), TEST_MAX_RETRIES + 1);
	assert_null(r.body);
	/* the failure is logged once, with its URL and status */
	snprintf(want, sizeof(want), "GET \"%s\": HTTP 503", r.url);
	log = log_read();
	assert_non_null(strstr(log, want));
	assert_null(strstr(strstr(log, want) + 1, want));
	free(log);
	/* 504 is retried too, then maps to -ETIMEDOUT */
	assert_int_equal(get(e, "/gateway-timeout", 1 << 20, 10000, &r),
			 -ETIMEDOUT);
	assert_int_equal(r.attempts, TEST_MAX_RETRIES + 1);
	assert_int_equal(r.status, 504);
}

static void test_http_retry_within_deadline(void **state)
{
	struct env *e = *state;
	struct http_config cfg = {.max_conns = 2, .max_retries = 50};
	struct http_client *c = NULL;
	struct http_req r = {0};
	uint64_t t0, dt;
	int rc;

	/* with many retries allowed, the deadline still bounds them: the
	 * call gives the server's answer (-EIO) before the deadline */
	assert_int_equal(http_client_new(&cfg, &c), 0);
	r.url = url_of(e, "/down");
	r.max_body = 1024;
	t0 = http_now_ms();
	rc = http_fetch(c, &r, 1, t0 + 700);
	dt = http_now_ms() - t0;
	/* (-ETIMEDOUT if the last retry starts just before the deadline) */
	assert_true(rc == -EIO || rc == -ETIMEDOUT);
	assert_true(r.attempts >= 2);
	assert_true(r.attempts < 50);
	assert_true(dt <= 700 + 100);
	http_req_release(&r);
	http_client_free(c);
}

static void test_http_429_retry_after(void **state)
{
	struct env *e = *state;
	struct http_req r;
	uint64_t t0 = http_now_ms();

	/* 429 with Retry-After: 0 is retried at once, then succeeds */
	assert_int_equal(get(e, "/busy", 1 << 20, 10000, &r), 0);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(r.body, "calm");
	assert_int_equal(srv_hits(e->srv, ROUTE_BUSY), 2);
	/* well under the exponential backoff's 2 s cap */
	assert_true(http_now_ms() - t0 < 1000);
	http_req_release(&r);
}

static void test_http_retry_after_past_deadline(void **state)
{
	struct env *e = *state;
	struct http_req r;
	uint64_t t0 = http_now_ms();

	/* Retry-After: 3600 ends after the deadline: no retry, -EIO now */
	assert_int_equal(get(e, "/busy-long", 1 << 20, 5000, &r), -EIO);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.status, 429);
	assert_int_equal(srv_hits(e->srv, ROUTE_BUSY_LONG), 1);
	assert_true(http_now_ms() - t0 < 1000);
}

static void test_http_short_body(void **state)
{
	struct env *e = *state;
	struct http_req r;

	/* Content-Length 100, 10 bytes, close: -EBADMSG after retries */
	assert_int_equal(get(e, "/short", 1 << 20, 10000, &r), -EBADMSG);
	assert_int_equal(r.rc, -EBADMSG);
	assert_int_equal(r.attempts, TEST_MAX_RETRIES + 1);
	assert_int_equal(srv_hits(e->srv, ROUTE_SHORT), TEST_MAX_RETRIES + 1);
	assert_null(r.body);
	assert_int_equal(r.len, 0);
}

static void test_http_body_cap(void **state)
{
	struct env *e = *state;
	struct http_req r;

	/* 64 KiB announced by Content-Length, cap 1 KiB: -EFBIG, no retry */
	assert_int_equal(get(e, "/big", 1024, 5000, &r), -EFBIG);
	assert_int_equal(r.attempts, 1);
	assert_null(r.body);
	/* 64 KiB without a length: cut at the cap, -EFBIG, no retry */
	assert_int_equal(get(e, "/big-unsized", 1024, 5000, &r), -EFBIG);
	assert_int_equal(r.attempts, 1);
	assert_null(r.body);
	assert_int_equal(srv_hits(e->srv, ROUTE_BIG_UNSIZED), 1);
	/* exactly at the cap is fine */
	assert_int_equal(get(e, "/big", 65536, 5000, &r), 0);
	assert_int_equal(r.len, 65536);
	assert_int_equal(r.body[0], 'a');
	assert_int_equal(r.body[65535], (char)('a' + 65535 % 26));
	assert_int_equal(r.body[65536], '\0');
	http_req_release(&r);
	/* one byte under it is not */
	assert_int_equal(get(e, "/big", 65535, 5000, &r), -EFBIG);
}

static void test_http_hang_deadline(void **state)
{
	struct env *e = *state;
	struct http_req r;
	uint64_t t0 = http_now_ms();
	uint64_t dt;

	/* a server that accepts and never answers: -ETIMEDOUT, back within
	 * the deadline + 1 s, and not long before it */
	assert_int_equal(get(e, "/hang", 1 << 20, 800, &r), -ETIMEDOUT);
	dt = http_now_ms() - t0;
	assert_int_equal(r.rc, -ETIMEDOUT);
	assert_true(dt >= 700);
	assert_true(dt <= 800 + 1000);
	assert_null(r.body);
	assert_int_equal(srv_hits(e->srv, ROUTE_HANG), 1);
}

static void test_http_deadline_passed(void **state)
{
	struct env *e = *state;
	struct http_req r = {0};

	/* a deadline already passed: -ETIMEDOUT without a request */
	r.url = url_of(e, "/ok");
	r.max_body = 1024;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() - 1),
			 -ETIMEDOUT);
	assert_int_equal(r.rc, -ETIMEDOUT);
	assert_null(r.body);
	assert_int_equal(srv_hits(e->srv, ROUTE_OK), 0);
}

static void test_http_refused(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct http_req r = {0};
	char url[64];
	uint64_t t0, dt;
	int fd;

	/* a port that was just free and is now closed */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok",
		 ntohs(sa.sin_port));
	r.url = url;
	r.max_body = 1024;
	/* -ECONNREFUSED at once: one attempt, far under the deadline */
	t0 = http_now_ms();
	assert_int_equal(http_fetch(e->c, &r, 1, t0 + 10000), -ECONNREFUSED);
	dt = http_now_ms() - t0;
	assert_int_equal(r.rc, -ECONNREFUSED);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.status, 0);
	assert_true(dt < 1000);
}

static void test_http_range(void **state)
{
	struct env *e = *state;
	struct http_req r = {0};

	/* off 100, len 100: the server checks "Range: bytes=100-199" and
	 * sends exactly that slice */
	r.url = url_of(e, "/range");
	r.range_off = 100;
	r.range_len = 100;
	r.max_body = 1 << 20;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() + 5000), 0);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 100);
	for (size_t i = 0; i < r.len; i++)
		assert_int_equal(r.body[i], resource_byte(100 + i));
	assert_int_equal(r.content_length, 100);
	pthread_mutex_lock(&e->srv->lock);
	assert_string_equal(e->srv->range, "bytes=100-199");
	/* no compression on ranges */
	assert_false(e->srv->range_accept_encoding);
	pthread_mutex_unlock(&e->srv->lock);
	http_req_release(&r);
	/* one byte at offset 0 */
	r.range_off = 0;
	r.range_len = 1;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() + 5000), 0);
	assert_int_equal(r.len, 1);
	assert_int_equal(r.body[0], resource_byte(0));
	pthread_mutex_lock(&e->srv->lock);
	assert_string_equal(e->srv->range, "bytes=0-0");
	pthread_mutex_unlock(&e->srv->lock);
	http_req_release(&r);
	/* offsets past 4 GiB are written in full (the server refuses the
	 * range: 416 is a protocol error) */
	r.range_off = 5000000000ULL;
	r.range_len = 10;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() + 5000),
			 -EPROTO);
	assert_int_equal(r.status, 416);
	pthread_mutex_lock(&e->srv->lock);
	assert_string_equal(e->srv->range, "bytes=5000000000-5000000009");
	pthread_mutex_unlock(&e->srv->lock);
	/* no Range header when range_len is 0 */
	r.range_off = 100;
	r.range_len = 0;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() + 5000),
			 -EPROTO);
	pthread_mutex_lock(&e->srv->lock);
	assert_string_equal(e->srv->range, "");
	pthread_mutex_unlock(&e->srv->lock);
}

static void test_http_head(void **state)
{
	struct env *e = *state;
	struct http_req r = {0};

	/* HEAD: status, Content-Length and type, an empty body */
	r.url = url_of(e, "/head");
	r.max_body = 1 << 20;
	r.head = true;
	assert_int_equal(http_fetch(e->c, &r, 1, http_now_ms() + 5000), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, 1234);
	assert_string_equal(r.content_type, "image/tiff");
	assert_int_equal(r.len, 0);
	assert_non_null(r.body);
	assert_int_equal(r.body[0], '\0');
	http_req_release(&r);
}

/* ---- batches ----------------------------------------------------------- */

static void test_http_batch_cap(void **state)
{
	struct env *e = *state;
	struct http_req r[20];
	char urls[20][96];
	uint64_t t0, dt;
	uint64_t nreq = 0, nbytes = 0, nerr = 0;

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 20; i++) {
		snprintf(urls[i], sizeof(urls[i]),
			 "http://127.0.0.1:%d/slow/%d", e->srv->port, i);
		r[i].url = urls[i];
		r[i].max_body = 1024;
	}
	/* 20 slow requests, max_conns 2: all succeed, each with its body */
	t0 = http_now_ms();
	assert_int_equal(http_fetch(e->c, r, 20, t0 + 20000), 0);
	dt = http_now_ms() - t0;
	for (int i = 0; i < 20; i++) {
		char want[32];

		snprintf(want, sizeof(want), "/slow/%d", i);
		assert_int_equal(r[i].rc, 0);
		assert_string_equal(r[i].body, want);
		http_req_release(&r[i]);
	}
	/* the server never had more than 2 connections open, nor more than
	 * 2 requests in progress */
	pthread_mutex_lock(&e->srv->lock);
	assert_int_equal(e->srv->hits[ROUTE_SLOW], 20);
	assert_true(e->srv->conns_max <= TEST_MAX_CONNS);
	assert_true(e->srv->active_max <= TEST_MAX_CONNS);
	assert_true(e->srv->active_max >= 1);
	pthread_mutex_unlock(&e->srv->lock);
	/* 10 rounds of 20 ms at least */
	assert_true(dt >= 10 * SRV_SLOW_MS);
	/* the client counted 20 requests, their bytes, no error */
	http_client_stats(e->c, &nreq, &nbytes, &nerr);
	assert_int_equal(nreq, 20);
	assert_int_equal(nerr, 0);
	assert_true(nbytes >= 20 * strlen("/slow/0"));
}

static void test_http_batch_mixed(void **state)
{
	struct env *e = *state;
	struct http_req r[3];
	char urls[3][96];
	static const char *const paths[] = {"/ok", "/missing", "/slow/x"};

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d%s",
			 e->srv->port, paths[i]);
		r[i].url = urls[i];
		r[i].max_body = 1024;
	}
	/* one failure: the call returns its rc, the others keep theirs */
	assert_int_equal(http_fetch(e->c, r, 3, http_now_ms() + 5000), -ENOENT);
	assert_int_equal(r[0].rc, 0);
	assert_string_equal(r[0].body, "{\"data\": [1, 2, 3]}");
	assert_int_equal(r[1].rc, -ENOENT);
	assert_null(r[1].body);
	assert_int_equal(r[2].rc, 0);
	assert_string_equal(r[2].body, "/slow/x");
	for (int i = 0; i < 3; i++)
		http_req_release(&r[i]);
	/* an empty batch is a no-op */
	assert_int_equal(http_fetch(e->c, r, 0, http_now_ms() + 5000), 0);
}

struct thread_arg {
	struct env *e;
	int id;
	int rc;
	bool body_ok;
};

static void *batch_thread(void *p)
{
	struct thread_arg *a = p;
	struct http_req r[4];
	char paths[4][32];
	char urls[4][160];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 4; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/slow/%d-%d", a->id, i);
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d%s",
			 a->e->srv->port, paths[i]);
		r[i].url = urls[i];
		r[i].max_body = 1024;
	}
	a->rc = http_fetch(a->e->c, r, 4, http_now_ms() + 20000);
	a->body_ok = true;
	for (int i = 0; i < 4; i++) {
		if (!r[i].body || strcmp(r[i].body, paths[i]) != 0)
			a->body_ok = false;
		http_req_release(&r[i]);
	}
	return NULL;
}

static void test_http_batch_threads(void **state)
{
	struct env *e = *state;
	pthread_t th[4];
	struct thread_arg args[4];

	/* four threads with four requests each share the client: all
	 * succeed and the per-host cap holds across calls */
	for (int i = 0; i < 4; i++) {
		args[i].e = e;
		args[i].id = i;
		args[i].rc = -1;
		args[i].body_ok = false;
		assert_int_equal(
			pthread_create(&th[i], NULL, batch_thread, &args[i]),
			0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, 0);
		assert_true(args[i].body_ok);
	}
	pthread_mutex_lock(&e->srv->lock);
	assert_int_equal(e->srv->hits[ROUTE_SLOW], 16);
	assert_true(e->srv->active_max <= TEST_MAX_CONNS);
	assert_true(e->srv->conns_max <= TEST_MAX_CONNS);
	pthread_mutex_unlock(&e->srv->lock);
}

static void test_http_client_new_free(void **state)
{
	struct http_config cfg = {.max_conns = 0, .max_retries = 0};
	struct http_client *c = NULL;

	(void)state;
	/* max_conns 0 is taken as 1; NULL user agent is a default */
	assert_int_equal(http_client_new(&cfg, &c), 0);
	assert_non_null(c);
	http_client_free(c);
	/* freeing NULL is a no-op */
	http_client_free(NULL);
}

/* ---- regressions: bugs found and fixed ----------------------------- */

static void test_http_bug_stale_body_after_retry(void **state)
{
	struct env *e = *state;
	struct http_req r;
	bool stale;

	/* a 503 with a body, then an empty 200: success with len 0 ... */
	assert_int_equal(get(e, "/empty-after-503", 1 << 20, 10000, &r), 0);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.len, 0);
	assert_non_null(r.body);
	/* ... and the body is "" (NUL at len), not the 503's text */
	stale = r.body[0] != '\0';
	if (stale)
		print_message("regression: empty body after a retry reads "
			      "\"%.30s\"\n",
			      r.body);
	http_req_release(&r);
	if (stale)
		fail();
}

static void test_http_bug_head_body_cap(void **state)
{
	struct env *e = *state;
	struct http_req r = {0};
	int rc;

	/* HEAD of a 1234-byte resource with a 16-byte body cap: no body is
	 * sent, so the cap must not apply */
	r.url = url_of(e, "/head");
	r.max_body = 16;
	r.head = true;
	rc = http_fetch(e->c, &r, 1, http_now_ms() + 5000);
	http_req_release(&r);
	if (rc == -EFBIG) {
		print_message("regression: HEAD of a resource larger than "
			      "max_body gives -EFBIG\n");
		fail();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(r.content_length, 1234);
}

static void test_http_bug_retry_after_overflow(void **state)
{
	struct env *e = *state;
	struct http_req r;
	unsigned attempts;

	/* a Retry-After too large for a long: as long as the deadline
	 * allows, i.e. no retry (src multiplies strtol()'s LONG_MAX by
	 * 1000: signed overflow) */
	assert_int_equal(get(e, "/busy-huge", 1 << 20, 5000, &r), -EIO);
	attempts = r.attempts;
	if (attempts != 1) {
		print_message("regression: Retry-After 99999999999999999999 "
			      "retried, %u attempts\n",
			      attempts);
		fail();
	}
}

static void test_http_bug_slot_wait_stall(void **state)
{
	struct env *e = *state;
	struct http_config cfg = {.max_conns = 1, .max_retries = 0};
	struct http_client *c = NULL;
	struct http_req r[6];
	char urls[6][96];
	uint64_t t0, dt;

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 6; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d/ok?%d",
			 e->srv->port, i);
		r[i].url = urls[i];
		r[i].max_body = 1024;
	}
	assert_int_equal(http_client_new(&cfg, &c), 0);
	/* warm the connection, then 6 instant answers over 1 slot */
	assert_int_equal(http_fetch(c, r, 1, http_now_ms() + 5000), 0);
	http_req_release(&r[0]);
	t0 = http_now_ms();
	assert_int_equal(http_fetch(c, r, 6, t0 + 20000), 0);
	dt = http_now_ms() - t0;
	for (int i = 0; i < 6; i++)
		http_req_release(&r[i]);
	http_client_free(c);
	/* a call whose own transfer frees the slot should start the next
	 * one at once, not after HTTP_POLL_MS (100 ms) each time */
	if (dt >= 450) {
		print_message("regression: 6 loopback requests over 1 slot "
			      "took %" PRIu64 " ms\n",
			      dt);
		fail();
	}
}

/* ---- defect 6: no secret in the trace ------------------------------------ */

static void test_http_trace_redact(void **state)
{
	static const struct {
		bool header;
		const char *in, *out;
	} cases[] = {
		{true, "Set-Cookie: sessionid=abc; Path=/",
		 "Set-Cookie: <redacted>"},
		{true, "cookie: sessionid=abc", "cookie: <redacted>"},
		{true, "Authorization: Bearer xyz",
		 "Authorization: <redacted>"},
		{true, "Proxy-Authorization: Basic dXNlcjpwdw==",
		 "Proxy-Authorization: <redacted>"},
		{true, "Content-Type: application/json",
		 "Content-Type: application/json"},
		{true, "Cookies-Are-Fine: 1", "Cookies-Are-Fine: 1"},
		{true, "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"},
		{false,
		 "Added cookie sessionid=\"abc\" for domain 127.0.0.1, path "
		 "/, expire 0",
		 "Added cookie <redacted>"},
		{false, "Replaced cookie sessionid=\"def\" for domain x",
		 "Replaced cookie <redacted>"},
		{false, "Connected to 127.0.0.1 (127.0.0.1) port 80",
		 "Connected to 127.0.0.1 (127.0.0.1) port 80"},
	};
	char out[512];

	(void)state;
	/* the value goes, the name stays */
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		http_trace_redact(cases[i].header, cases[i].in,
				  strlen(cases[i].in), out, sizeof(out));
		assert_string_equal(out, cases[i].out);
	}
}

static void test_http_trace_no_cookie(void **state)
{
	struct env *e = *state;
	struct http_config cfg = {.max_conns = 1, .verbose = true};
	struct http_client *c = NULL;
	struct http_req r;
	char *log;

	/* -o trace=http: curl's own trace goes to the log */
	assert_int_equal(log_set_trace("http", NULL, NULL), 0);
	assert_int_equal(http_client_new(&cfg, &c), 0);
	for (int i = 0; i < 2; i++) {
		/* the first answer sets the session cookie, the second
		 * request sends it back */
		memset(&r, 0, sizeof(r));
		r.url = url_of(e, "/cookie");
		r.max_body = 1024;
		assert_int_equal(http_fetch(c, &r, 1, http_now_ms() + 5000), 0);
		http_req_release(&r);
	}
	http_client_free(c);
	assert_int_equal(log_set_trace("", NULL, NULL), 0);
	log = log_read();
	/* the trace is there, the secret is not */
	assert_non_null(strstr(log, "curl: < Set-Cookie: <redacted>"));
	assert_non_null(strstr(log, "curl: > Cookie: <redacted>"));
	assert_non_null(strstr(log, "cookie <redacted>"));
	assert_non_null(strstr(log, "curl: > GET /cookie HTTP/1.1"));
	if (strstr(log, SRV_COOKIE_SECRET))
		fail_msg("the session cookie is in the log");
	free(log);
}

/* ---- defect 8: a 206 is the range asked for ----------------------------- */

static void test_http_parse_crange(void **state)
{
	uint64_t a = 7, b = 7;
	int64_t t = 7;

	(void)state;
	assert_int_equal(http_parse_crange("bytes 0-99/1000", &a, &b, &t), 0);
	assert_true(a == 0 && b == 99 && t == 1000);
	assert_int_equal(http_parse_crange("bytes 5-5/*", &a, &b, &t), 0);
	assert_true(a == 5 && b == 5 && t == -1);
	/* malformed: nothing written */
	a = b = 7;
	t = 7;
	assert_int_equal(http_parse_crange("bytes 9-1/10", &a, &b, &t),
			 -EINVAL);
	assert_int_equal(http_parse_crange("bytes 0-10/10", &a, &b, &t),
			 -EINVAL);
	assert_int_equal(http_parse_crange("bytes */1000", &a, &b, &t),
			 -EINVAL);
	assert_int_equal(http_parse_crange("items 0-1/2", &a, &b, &t), -EINVAL);
	assert_int_equal(http_parse_crange("bytes 0-1/2x", &a, &b, &t),
			 -EINVAL);
	assert_int_equal(
		http_parse_crange("bytes 0-99999999999999999999/*", &a, &b, &t),
		-EINVAL);
	assert_int_equal(http_parse_crange("bytes -1-2/3", &a, &b, &t),
			 -EINVAL);
	assert_true(a == 7 && b == 7 && t == 7);
}

static void test_http_partial_checked(void **state)
{
	static const struct {
		const char *kind;
		int rc;
	} cases[] = {
		{"start", -EBADMSG}, {"none", -EBADMSG}, {"len", -EBADMSG},
		{"end", -EBADMSG},   {"star", 0},	 {"eof", 0},
	};
	struct env *e = *state;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct http_req r = {0};
		char path[64];
		char *log;
		int rc;

		snprintf(path, sizeof(path), "/range-bad?%s", cases[i].kind);
		r.url = url_of(e, path);
		r.range_off = 100;
		r.range_len = 50;
		r.max_body = 50;
		rc = http_fetch(e->c, &r, 1, http_now_ms() + 5000);
		http_req_release(&r);
		if (rc != cases[i].rc)
			fail_msg("%s: %d, expected %d", cases[i].kind, rc,
				 cases[i].rc);
		if (rc == 0)
			continue;
		/* a clear line that names the URL, and no retry */
		log = log_read();
		assert_non_null(strstr(log, path));
		assert_true(strstr(log, "206 of bytes") ||
			    strstr(log, "206 without a valid Content-Range"));
		assert_int_equal(r.attempts, 1);
		free(log);
	}
}

/* ---- proxies ------------------------------------------------------------ */

#define ORIGIN "http://origin.test"

/* A loopback port nobody listens on (bound, then closed: refused). */
static int dead_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port;

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static unsigned srv_proxied(struct srv *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->proxied;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* A client with a proxy list; backoff_ms 0 is the default. */
static struct http_client *proxy_client(const char *list, unsigned backoff_ms)
{
	struct http_config cfg = {
		.max_conns = TEST_MAX_CONNS,
		.max_retries = TEST_MAX_RETRIES,
		.proxy = list,
		.proxy_backoff_ms = backoff_ms,
	};
	struct http_client *c = NULL;

	assert_int_equal(http_client_new(&cfg, &c), 0);
	return c;
}

static int proxy_get(struct http_client *c, const char *url, struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->max_body = 1 << 20;
	return http_fetch(c, r, 1, http_now_ms() + 10000);
}

static void test_http_proxy_check(void **state)
{
	static const char *const good[] = {
		"http://head:3128",
		"http://head:3128;DIRECT",
		"http://a:3128; http://b:3128 ;direct",
		"DIRECT",
		"http://user:pw@head:3128/",
	};
	static const struct {
		const char *list;
		const char *bad; /* the entry named */
	} bad[] = {
		{"", ""},
		{"head:3128", "head:3128"},
		{"http://a:3128;;DIRECT", ""},
		{"http://a:3128;socks5://b:1080", "socks5://b:1080"},
		{"https://a:3128", "https://a:3128"},
		{"http://", "http://"},
		{"http://a b:3128", "http://a b:3128"},
		{"http://a\"b:3128", "http://a\"b:3128"},
		{"DIRECT;DIRECT;DIRECT;DIRECT;DIRECT;DIRECT;DIRECT;DIRECT;"
		 "http://ninth",
		 "http://ninth"},
	};
	const char *b;
	size_t bl;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		if (http_proxy_check(good[i], &b, &bl) != 0)
			fail_msg("'%s' refused", good[i]);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		b = NULL;
		if (http_proxy_check(bad[i].list, &b, &bl) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].list);
		/* the message names the entry at fault */
		assert_non_null(b);
		assert_int_equal(bl, strlen(bad[i].bad));
		assert_memory_equal(b, bad[i].bad, bl);
	}
}

static void test_http_proxy_failover(void **state)
{
	struct env *e = *state;
	struct http_client *c;
	struct http_req r;
	char list[128], now[128];
	uint64_t fo = 0;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d;http://127.0.0.1:%d",
		 dead_port(), e->srv->port);
	c = proxy_client(list, 0);
	/* the first proxy refuses: the second answers, and the request
	 * spent no retry on the dead one */
	assert_int_equal(proxy_get(c, ORIGIN "/ok", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"data\": [1, 2, 3]}");
	assert_int_equal(r.attempts, 1);
	http_req_release(&r);
	assert_int_equal(srv_proxied(e->srv), 1);
	http_client_proxy(c, now, sizeof(now), &fo);
	assert_int_equal(fo, 1);
	snprintf(list, sizeof(list), "http://127.0.0.1:%d", e->srv->port);
	assert_string_equal(now, list);
	/* the dead proxy backs off: the next request goes straight to the
	 * second, with no new failover */
	assert_int_equal(proxy_get(c, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(e->srv), 2);
	http_client_proxy(c, now, sizeof(now), &fo);
	assert_int_equal(fo, 1);
	/* nothing asks the proxy not to cache */
	assert_false(e->srv->proxied_nocache);
	http_client_free(c);
}

static void test_http_proxy_all_dead(void **state)
{
	struct env *e = *state;
	struct http_client *c;
	struct http_req r;
	char list[128], now[128];
	uint64_t fo = 0;
	uint64_t deadline;
	int rc;

	/* both proxies dead, DIRECT listed: the origin itself answers */
	snprintf(list, sizeof(list),
		 "http://127.0.0.1:%d;http://127.0.0.1:%d;"
		 "DIRECT",
		 dead_port(), dead_port());
	c = proxy_client(list, 0);
	assert_int_equal(proxy_get(c, url_of(e, "/ok"), &r), 0);
	assert_int_equal(r.status, 200);
	http_req_release(&r);
	assert_int_equal(srv_proxied(e->srv), 0);
	assert_int_equal(srv_hits(e->srv, ROUTE_OK), 1);
	http_client_proxy(c, now, sizeof(now), &fo);
	assert_int_equal(fo, 2);
	assert_string_equal(now, "DIRECT");
	http_client_free(c);

	/* both dead, no DIRECT: the request fails with the proxies' error,
	 * before its deadline */
	snprintf(list, sizeof(list), "http://127.0.0.1:%d;http://127.0.0.1:%d",
		 dead_port(), dead_port());
	c = proxy_client(list, 0);
	memset(&r, 0, sizeof(r));
	r.url = url_of(e, "/ok");
	r.max_body = 1 << 20;
	deadline = http_now_ms() + 10000;
	rc = http_fetch(c, &r, 1, deadline);
	assert_int_equal(rc, -ECONNREFUSED);
	assert_true(http_now_ms() < deadline);
	assert_int_equal(srv_hits(e->srv, ROUTE_OK), 1);
	http_req_release(&r);
	/* and again while both back off: still an error, no hang */
	assert_int_equal(proxy_get(c, url_of(e, "/ok"), &r), -ECONNREFUSED);
	http_req_release(&r);
	http_client_free(c);
}

static void test_http_proxy_error_page(void **state)
{
	struct env *e = *state;
	struct srv *sq = NULL;
	struct http_client *c;
	struct http_req r;
	char list[128], now[128];
	uint64_t fo = 0;

	/* a squid that cannot reach the origin answers 503 with
	 * X-Squid-Error: the request moves on to the next proxy */
	assert_int_equal(srv_start(&sq), 0);
	sq->squid_down = true;
	snprintf(list, sizeof(list), "http://127.0.0.1:%d;http://127.0.0.1:%d",
		 sq->port, e->srv->port);
	c = proxy_client(list, 0);
	assert_int_equal(proxy_get(c, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(sq), 1);
	assert_int_equal(srv_proxied(e->srv), 1);
	http_client_proxy(c, now, sizeof(now), &fo);
	assert_int_equal(fo, 1);
	http_client_free(c);
	srv_stop(sq);

	/* the origin's own 504 through a proxy is not the proxy's failure:
	 * retried there, never moved on */
	snprintf(list, sizeof(list), "http://127.0.0.1:%d;DIRECT",
		 e->srv->port);
	c = proxy_client(list, 0);
	assert_int_equal(proxy_get(c, ORIGIN "/gateway-timeout", &r),
			 -ETIMEDOUT);
	http_req_release(&r);
	assert_int_equal(srv_hits(e->srv, ROUTE_GATEWAY_TIMEOUT),
			 1 + TEST_MAX_RETRIES);
	http_client_proxy(c, now, sizeof(now), &fo);
	assert_int_equal(fo, 0);
	http_client_free(c);
}

static void test_http_proxy_backoff(void **state)
{
	struct env *e = *state;
	struct srv *back = NULL;
	struct http_client *slow, *fast;
	struct http_req r;
	char list[128];
	int port = dead_port();
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 400 * 1000000L};

	snprintf(list, sizeof(list), "http://127.0.0.1:%d;http://127.0.0.1:%d",
		 port, e->srv->port);
	/* both clients see the first proxy dead and use the second */
	slow = proxy_client(list, 60000);
	fast = proxy_client(list, 50);
	assert_int_equal(proxy_get(slow, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(proxy_get(fast, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(e->srv), 2);
	/* the first proxy comes back */
	assert_int_equal(srv_start_port(port, &back), 0);
	nanosleep(&ts, NULL);
	/* within its 60 s backoff, a client does not try it ... */
	assert_int_equal(proxy_get(slow, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(back), 0);
	assert_int_equal(srv_proxied(e->srv), 3);
	/* ... after its 50 ms backoff, a client uses it again */
	assert_int_equal(proxy_get(fast, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(back), 1);
	assert_int_equal(srv_proxied(e->srv), 3);
	http_client_free(slow);
	http_client_free(fast);
	srv_stop(back);
}

static void test_http_proxy_overrides_env(void **state)
{
	struct env *e = *state;
	struct http_client *c;
	struct http_req r;
	char dead[64];

	/* the environment names a dead proxy; -o proxy=DIRECT wins */
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port());
	setenv("http_proxy", dead, 1);
	setenv("no_proxy", "", 1);
	c = proxy_client("DIRECT", 0);
	assert_int_equal(proxy_get(c, url_of(e, "/ok"), &r), 0);
	http_req_release(&r);
	http_client_free(c);
	/* and a listed proxy is used even where no_proxy would skip it */
	setenv("no_proxy", "origin.test", 1);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", e->srv->port);
	c = proxy_client(dead, 0);
	assert_int_equal(proxy_get(c, ORIGIN "/ok", &r), 0);
	http_req_release(&r);
	assert_int_equal(srv_proxied(e->srv), 1);
	http_client_free(c);
	unsetenv("http_proxy");
	unsetenv("no_proxy");
}

static void test_http_startup_jitter(void **state)
{
	struct env *e = *state;
	struct http_config cfg = {.max_conns = 2, .startup_jitter_ms = 200};
	struct http_client *c = NULL;
	struct http_req r;
	uint64_t made = http_now_ms();
	uint64_t start;

	assert_int_equal(http_client_new(&cfg, &c), 0);
	start = http_client_start_at(c);
	/* the first request waits a random time below the jitter ... */
	assert_true(start >= made && start < http_now_ms() + 200);
	memset(&r, 0, sizeof(r));
	r.url = url_of(e, "/ok");
	r.max_body = 1 << 20;
	assert_int_equal(http_fetch(c, &r, 1, http_now_ms() + 10000), 0);
	/* ... and is not sent before it */
	assert_true(http_now_ms() >= start);
	http_req_release(&r);
	http_client_free(c);
}

/* ---- main -------------------------------------------------------------- */

static int group_setup(void **state)
{
	int fd;

	(void)state;
	if (http_global_init() < 0)
		return -1;
	/* failures are logged by design: to a file the tests can read */
	fd = mkstemp(g_log_path);
	if (fd < 0)
		return -1;
	close(fd);
	return log_open(LOG_SINK_FILE, g_log_path) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	log_close();
	unlink(g_log_path);
	http_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_status_to_errno),
		cmocka_unit_test(test_http_client_new_free),
		cmocka_unit_test_setup_teardown(test_http_ok_body, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_keepalive, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_errors_no_retry,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_retry_then_ok, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_retry_exhausted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_retry_within_deadline,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_429_retry_after,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_http_retry_after_past_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_short_body, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_body_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_hang_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_deadline_passed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_range, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_head, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_batch_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_batch_mixed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_batch_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_http_bug_stale_body_after_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_http_bug_retry_after_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_bug_head_body_cap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_bug_slot_wait_stall,
						setup, teardown),
		cmocka_unit_test(test_http_trace_redact),
		cmocka_unit_test_setup_teardown(test_http_trace_no_cookie,
						setup, teardown),
		cmocka_unit_test(test_http_parse_crange),
		cmocka_unit_test_setup_teardown(test_http_partial_checked,
						setup, teardown),
		cmocka_unit_test(test_http_proxy_check),
		cmocka_unit_test_setup_teardown(test_http_proxy_failover, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_proxy_all_dead, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_proxy_error_page,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_proxy_backoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_http_proxy_overrides_env,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_startup_jitter, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
