/* server.c -- HTTP/1.1 on libuv: GET/HEAD of cached clips, single ranges, keep-alive,
 * per-connection timeouts, and a connection cap shared fairly between addresses; files are
 * streamed in chunks. */
#include "server.h"
#include "http_request.h"
#include "http_response.h"
#include "clip.h"
#include "gena_route.h"
#include "web.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum conn_state {
	CONN_READING,    /* waiting for (the rest of) a request head */
	CONN_BODY,       /* reading the body of a NOTIFY (gena_route.c) */
	CONN_RESPONDING, /* writing a response; reading is stopped */
	CONN_LINGER,     /* our side is shut down; discarding input until EOF or timeout */
	CONN_CLOSING,    /* handles closing; freed when the last callback has run */
};

struct server;

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	uv_fs_t fs_req;
	struct server *srv;
	struct conn *prev, *next;
	enum conn_state state;
	int handles; /* initialised handles not yet closed */
	int fs_busy; /* fs_req in flight: the conn must outlive it */
	char peer[64];
	char peer_ip[48];      /* peer address alone, for the per-peer cap */
	uint64_t serial;       /* order of acceptance: the lowest is the oldest */
	char in[HTTP_HEAD_MAX]; /* received bytes not yet consumed */
	size_t in_len;
	/* The response in progress. */
	char head[768]; /* response head, plus the body of short error replies */
	size_t head_len;
	int head_sent;
	int fd;             /* clip file, -1 when none */
	uint64_t offset;    /* next file byte to send */
	uint64_t remaining; /* file bytes still to send */
	uint8_t *chunk;     /* SERVER_CHUNK bytes while a file is being sent */
	int keep_alive;
	/* For the request log line. */
	char method[16];
	char path[96];
	int status;
	uint64_t body_sent;
	struct msg_gena_notify *notify; /* NOTIFY being read in CONN_BODY, else NULL */
	size_t notify_got;              /* its body bytes received */
	size_t notify_skip;             /* body bytes still to read and drop (gena_route.h) */
	int web;                        /* handed to web.c, waiting for server_web_reply */
	int web_head_only;              /* that request was a HEAD */
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	char dir[CONFIG_STR_MAX];
	struct conn *conns;
	int nconns;
	int closing; /* of nconns, those closed but not yet freed */
	int stopping;
	int listener_closed;
	uint64_t refused_log_ms; /* last time a refused connection was logged */
	uint64_t accepted;       /* connections accepted, for conn.serial */
	unsigned long requests;  /* request heads answered, for health */
};

static void conn_read_start(struct conn *c);
static void conn_process(struct conn *c);
static void conn_close(struct conn *c);

static void
server_maybe_free(struct server *s)
{
	if (s->stopping && s->listener_closed && s->nconns == 0)
		free(s);
}

static void
conn_maybe_free(struct conn *c)
{
	struct server *s = c->srv;

	if (c->handles > 0 || c->fs_busy)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	s->closing--;
	free(c->chunk);
	free(c->notify);
	free(c);
	server_maybe_free(s);
}

static void
conn_handle_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->handles--;
	conn_maybe_free(c);
}

/* Close now: pending writes are cancelled; memory goes when every callback has run. */
static void
conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->srv->closing++;
	if (c->web)
		web_forget(c);
	if (c->fd >= 0 && !c->fs_busy) {
		close(c->fd);
		c->fd = -1;
	}
	uv_close((uv_handle_t *)&c->tcp, conn_handle_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_handle_close_cb);
}

static void
conn_timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state != CONN_LINGER)
		log_debug("%s: %s took too long, closing", c->peer,
		          c->state == CONN_BODY         ? "NOTIFY body"
		          : c->state == CONN_RESPONDING ? "response"
		                                        : "request head");
	conn_close(c);
}

static void
conn_timer_set(struct conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
}

static void
conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state == CONN_CLOSING)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* Closing with unread input makes the kernel send RST, which can destroy the response
	 * still in flight; so read and discard until the peer closes, for a short while. */
	conn_timer_set(c, SERVER_LINGER_MS);
	conn_read_start(c);
}

static void
conn_linger(struct conn *c)
{
	c->state = CONN_LINGER;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0)
		conn_close(c);
}

/* The response is out: log it, then take the next request or end the connection. */
static void
conn_response_done(struct conn *c)
{
	log_debug("%s %s %d %llu bytes %s", c->method, c->path, c->status,
	          (unsigned long long)c->body_sent, c->peer);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->chunk);
	c->chunk = NULL;
	if (!c->keep_alive || c->srv->stopping) {
		conn_linger(c);
		return;
	}
	c->state = CONN_READING;
	conn_timer_set(c, SERVER_HEAD_TIMEOUT_MS);
	conn_read_start(c);
	conn_process(c); /* a pipelined request may already be buffered */
}

static void conn_read_chunk(struct conn *c);

static void
conn_write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state == CONN_CLOSING)
		return;
	if (status < 0) {
		log_debug("%s: write: %s", c->peer, uv_strerror(status));
		conn_close(c);
		return;
	}
	conn_timer_set(c, SERVER_SEND_TIMEOUT_MS); /* progress */
	if (c->remaining > 0)
		conn_read_chunk(c);
	else
		conn_response_done(c);
}

/* Write the head (if not yet sent) and n bytes of body. */
static void
conn_write(struct conn *c, const void *body, size_t n)
{
	uv_buf_t bufs[2];
	unsigned nbufs = 0;
	int rv;

	if (!c->head_sent)
		bufs[nbufs++] = uv_buf_init(c->head, (unsigned)c->head_len);
	if (n > 0)
		bufs[nbufs++] = uv_buf_init((char *)body, (unsigned)n);
	c->head_sent = 1;
	c->write_req.data = c;
	if ((rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, nbufs, conn_write_cb)) !=
	    0) {
		log_debug("%s: write: %s", c->peer, uv_strerror(rv));
		conn_close(c);
	}
}

static void
conn_fs_read_cb(uv_fs_t *req)
{
	struct conn *c = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	c->fs_busy = 0;
	if (c->state == CONN_CLOSING) {
		conn_maybe_free(c);
		return;
	}
	if (n <= 0) {
		/* The head promised more bytes: the only honest end is to close. */
		log_warnx("%s: reading %s: %s", c->peer, c->path,
		          n < 0 ? uv_strerror((int)n) : "file shrank");
		conn_close(c);
		return;
	}
	c->offset += (uint64_t)n;
	c->remaining -= (uint64_t)n;
	c->body_sent += (uint64_t)n;
	conn_write(c, c->chunk, (size_t)n);
}

static void
conn_read_chunk(struct conn *c)
{
	size_t n = c->remaining < SERVER_CHUNK ? (size_t)c->remaining : SERVER_CHUNK;
	uv_buf_t buf = uv_buf_init((char *)c->chunk, (unsigned)n);
	int rv;

	c->fs_req.data = c;
	c->fs_busy = 1;
	rv = uv_fs_read(c->srv->loop, &c->fs_req, c->fd, &buf, 1, (int64_t)c->offset,
	                conn_fs_read_cb);
	if (rv < 0) {
		c->fs_busy = 0;
		log_warnx("%s: reading %s: %s", c->peer, c->path, uv_strerror(rv));
		conn_close(c);
	}
}

static void
conn_set_head(struct conn *c, const struct http_response *r)
{
	int n = http_response_head(c->head, sizeof(c->head), r);

	c->head_len = n < 0 ? 0 : (size_t)n;
	c->head_sent = 0;
	c->status = r->status;
}

/* A response without a file: the head and a one-line text body (none for HEAD). */
static void
conn_respond_status(struct conn *c, int status, int head_only, int version)
{
	struct http_response r = {0};
	char body[64];
	int blen = snprintf(body, sizeof(body), "%s\n", http_reason(status));

	r.status = status;
	r.version = version;
	r.keep_alive = c->keep_alive;
	r.content_type = "text/plain; charset=utf-8";
	r.content_length = (uint64_t)blen;
	r.allow = status == 405 ? "GET, HEAD" : NULL;
	r.date = time(NULL);
	conn_set_head(c, &r);
	if (!head_only && c->head_len + (size_t)blen <= sizeof(c->head)) {
		memcpy(c->head + c->head_len, body, (size_t)blen);
		c->head_len += (size_t)blen;
		c->body_sent = (uint64_t)blen;
	}
	c->remaining = 0;
	conn_write(c, NULL, 0);
}

/* Open a clip by its checked name; never follows a link. Returns an fd or -1. */
static int
conn_open_clip(struct conn *c, const char *name, struct stat *st)
{
	char path[CONFIG_STR_MAX + CLIP_NAME_MAX + 2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->srv->dir, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Printable copy of an untrusted string for a log line. */
static void
log_copy(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = src[i] > 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static void
conn_respond(struct conn *c, const struct http_request *req)
{
	struct http_response r = {0};
	char name[CLIP_NAME_MAX];
	struct stat st;
	uint64_t first = 0, last = 0, size;
	int head_only = req->method == HTTP_METHOD_HEAD, rv = 0, is_clip;

	log_copy(c->method, sizeof(c->method), req->method_name);
	log_copy(c->path, sizeof(c->path), req->target);
	c->keep_alive = req->keep_alive;
	c->srv->requests++;
	if (req->method == HTTP_METHOD_OTHER) {
		conn_respond_status(c, 405, 0, req->version);
		return;
	}
	is_clip = http_clip_target(req->target, name, sizeof(name));
	if (is_clip) /* the speaker reached us: playerd tells "never fetched" from the rest */
		gena_route_clip_fetched(name, c->peer_ip);
	if (!is_clip || (c->fd = conn_open_clip(c, name, &st)) < 0) {
		conn_respond_status(c, 404, head_only, req->version);
		return;
	}
	size = (uint64_t)st.st_size;
	if (req->has_range && req->range[0] != '\0')
		rv = http_range_parse(req->range, size, &first, &last);
	r.version = req->version;
	r.keep_alive = c->keep_alive;
	r.accept_ranges = 1;
	r.total = size;
	r.date = time(NULL);
	if (rv == -416) {
		close(c->fd);
		c->fd = -1;
		r.status = 416;
		r.content_range = 1;
		conn_set_head(c, &r);
		c->remaining = 0;
		conn_write(c, NULL, 0);
		return;
	}
	r.content_type = CLIP_MIME;
	if (rv == 1) {
		r.status = 206;
		r.content_range = 1;
		r.first = first;
		r.last = last;
		c->offset = first;
		c->remaining = last - first + 1;
	} else {
		r.status = 200;
		c->offset = 0;
		c->remaining = size;
	}
	r.content_length = c->remaining;
	conn_set_head(c, &r);
	if (head_only || c->remaining == 0) {
		c->remaining = 0;
		conn_write(c, NULL, 0);
		return;
	}
	if ((c->chunk = malloc(SERVER_CHUNK)) == NULL) {
		conn_close(c);
		return;
	}
	conn_read_chunk(c);
}

/* A complete NOTIFY body: to playerd, then the answer; the connection closes after it. */
static void
conn_notify_done(struct conn *c)
{
	int status = gena_notify_send(c->notify);

	free(c->notify);
	c->notify = NULL;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->state = CONN_RESPONDING;
	conn_respond_status(c, status, 0, 11);
}

/* A NOTIFY head of head_len bytes at c->in: checked by gena_route.c, then its body is read into
 * the message for playerd (bounded by MSG_GENA_BODY_MAX and the request timer). */
static void
conn_notify(struct conn *c, const struct http_request *req, size_t head_len)
{
	int status;

	log_copy(c->method, sizeof(c->method), req->method_name);
	log_copy(c->path, sizeof(c->path), req->target);
	c->keep_alive = 0;
	status = gena_notify_begin(req, c->in, head_len, &c->notify, &c->notify_skip);
	c->in_len -= head_len;
	memmove(c->in, c->in + head_len, c->in_len);
	if (status != 0) {
		conn_respond_status(c, status, 0, req->version);
		return;
	}
	/* playerd takes it only from the address of the speaker it subscribed. */
	msg_strlcpy(c->notify->peer, c->peer_ip, sizeof(c->notify->peer));
	c->notify_got = c->in_len < c->notify->body_len ? c->in_len : c->notify->body_len;
	memcpy(c->notify->body, c->in, c->notify_got);
	c->in_len -= c->notify_got;
	c->notify_skip -= c->in_len < c->notify_skip ? c->in_len : c->notify_skip;
	c->in_len = 0;
	if (c->notify_got == c->notify->body_len && c->notify_skip == 0) {
		conn_notify_done(c);
		return;
	}
	c->state = CONN_BODY;
	conn_timer_set(c, SERVER_BODY_TIMEOUT_MS); /* a whole body, not per byte */
	conn_read_start(c);
}

/* A request for web.c (status page, test announcement, metrics): it reads the head and the
 * form body now and answers through server_web_reply; what it used is consumed here. */
static void
conn_web(struct conn *c, const struct http_request *req, size_t head_len)
{
	size_t used;

	log_copy(c->method, sizeof(c->method), req->method_name);
	log_copy(c->path, sizeof(c->path), req->target);
	c->keep_alive = req->keep_alive;
	c->srv->requests++;
	c->web = 1;
	c->web_head_only = req->method == HTTP_METHOD_HEAD;
	used = web_handle(c, req, c->in, head_len, c->in_len, c->peer);
	c->in_len -= used;
	memmove(c->in, c->in + used, c->in_len);
}

void
server_web_reply(struct conn *c, int status, const char *content_type, const char *headers,
		 const char *body, size_t len)
{
	struct http_response r = {0};
	size_t extra = headers != NULL ? strlen(headers) : 0;

	if (!c->web || c->state == CONN_CLOSING)
		return;
	c->web = 0;
	r.status = status;
	r.version = 11;
	r.keep_alive = c->keep_alive;
	r.content_type = content_type;
	r.content_length = len;
	r.date = time(NULL);
	conn_set_head(c, &r);
	/* The extra fields go before the head's final blank line. */
	if (extra > 0 && c->head_len >= 2 && c->head_len + extra <= sizeof(c->head)) {
		memcpy(c->head + c->head_len - 2, headers, extra);
		memcpy(c->head + c->head_len - 2 + extra, "\r\n", 2);
		c->head_len += extra;
	}
	c->remaining = 0;
	if (c->web_head_only || len == 0) {
		conn_write(c, NULL, 0);
		return;
	}
	if ((c->chunk = malloc(len)) == NULL) {
		conn_close(c);
		return;
	}
	memcpy(c->chunk, body, len);
	c->body_sent = len;
	conn_write(c, c->chunk, len);
}

/* Parse what has arrived; answer a complete or broken request head. */
static void
conn_process(struct conn *c)
{
	struct http_request req;
	int rv;

	if (c->state != CONN_READING || c->in_len == 0)
		return;
	if ((rv = http_request_parse(c->in, c->in_len, &req)) == 0)
		return;
	if (rv > 0 && web_route(&req) &&
	    !web_body_ready(&req, c->in, (size_t)rv, c->in_len, sizeof(c->in)))
		return; /* a form whose body is still on its way */
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->state = CONN_RESPONDING;
	c->body_sent = 0;
	conn_timer_set(c, SERVER_SEND_TIMEOUT_MS);
	if (rv < 0) {
		/* The stream cannot be trusted past a broken head: answer and close. */
		snprintf(c->method, sizeof(c->method), "-");
		snprintf(c->path, sizeof(c->path), "-");
		c->in_len = 0;
		c->keep_alive = 0;
		conn_respond_status(c, -rv, 0, 11);
		return;
	}
	if (gena_route(&req)) {
		conn_notify(c, &req, (size_t)rv);
		return;
	}
	if (web_route(&req)) {
		conn_web(c, &req, (size_t)rv);
		return;
	}
	c->in_len -= (size_t)rv;
	memmove(c->in, c->in + rv, c->in_len);
	conn_respond(c, &req);
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char discard[4096];
	struct conn *c = h->data;

	(void)suggested;
	if (c->state == CONN_LINGER)
		*buf = uv_buf_init(discard, sizeof(discard));
	else if (c->state == CONN_BODY && c->notify_got < c->notify->body_len)
		*buf = uv_buf_init(c->notify->body + c->notify_got,
				   (unsigned)(c->notify->body_len - c->notify_got));
	else if (c->state == CONN_BODY) /* a body not kept (gena_route.h) */
		*buf = uv_buf_init(discard,
		                   (unsigned)(c->notify_skip < sizeof(discard) ? c->notify_skip
		                                                               : sizeof(discard)));
	else
		*buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof(c->in) - c->in_len));
}

static void
conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;

	(void)buf;
	if (nread == 0 || c->state == CONN_CLOSING)
		return;
	if (nread < 0) {
		if (nread != UV_EOF && c->state != CONN_LINGER)
			log_debug("%s: read: %s", c->peer, uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (c->state == CONN_BODY) {
		if (c->notify_got < c->notify->body_len)
			c->notify_got += (size_t)nread;
		else
			c->notify_skip -= (size_t)nread;
		if (c->notify_got == c->notify->body_len && c->notify_skip == 0)
			conn_notify_done(c);
		return;
	}
	if (c->state != CONN_READING)
		return; /* lingering: discarded */
	c->in_len += (size_t)nread;
	conn_process(c);
}

static void
conn_read_start(struct conn *c)
{
	int rv = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);

	if (rv != 0 && rv != UV_EALREADY) {
		log_debug("%s: read: %s", c->peer, uv_strerror(rv));
		conn_close(c);
	}
}

static void
conn_peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

			uv_ip4_name(in, ip, sizeof(ip));
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

			/* An IPv4 peer of a dual-stack socket is named as IPv4, as speakers are. */
			if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
				uv_inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof(ip));
			else
				uv_ip6_name(in6, ip, sizeof(ip));
			port = ntohs(in6->sin6_port);
		}
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
}

/* Rate-limited warning about refused or evicted connections (a flood must not flood logs). */
static void
server_log_refusal(struct server *s, const char *what, const char *peer)
{
	uint64_t now = util_mono_ms();

	if (now - s->refused_log_ms > 10000) {
		log_warnx("%d connections open; %s %s", s->nconns, what, peer);
		s->refused_log_ms = now;
	}
}

/* Live connections from the same address as c, c not counted. */
static int
server_peer_count(const struct server *s, const struct conn *c)
{
	int n = 0;

	for (const struct conn *o = s->conns; o != NULL; o = o->next)
		if (o != c && o->state != CONN_CLOSING && strcmp(o->peer_ip, c->peer_ip) == 0)
			n++;
	return n;
}

/* At the cap, for the newcomer c: close the oldest connection of the address that holds the
 * most (the oldest of those when several hold as many), whatever it is doing (waiting for a
 * head, in a NOTIFY body, in a response nobody reads). A few hosts holding connections open
 * thus cannot lock a speaker out: each of them is at most SERVER_MAX_PER_PEER, and a speaker
 * holds far fewer. Returns 1 when one was closed. */
static int
server_evict(struct server *s, const struct conn *c)
{
	struct conn *victim = NULL;
	int most = 0;

	for (struct conn *o = s->conns; o != NULL; o = o->next) {
		int n;

		if (o == c || o->state == CONN_CLOSING)
			continue;
		n = server_peer_count(s, o) + 1;
		if (n > most || (n == most && o->serial < victim->serial)) {
			victim = o;
			most = n;
		}
	}
	if (victim == NULL)
		return 0;
	server_log_refusal(s, "closing the oldest connection of", victim->peer);
	conn_close(victim);
	return 1;
}

static void
free_handle_cb(uv_handle_t *h)
{
	free(h);
}

/* Over the cap: take the connection off the backlog and close it at once. */
static void
server_refuse(struct server *s)
{
	uv_tcp_t *t = malloc(sizeof(*t));

	if (t == NULL)
		return;
	uv_tcp_init(s->loop, t);
	if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t) == 0)
		server_log_refusal(s, "refusing", "a new one");
	uv_close((uv_handle_t *)t, free_handle_cb);
}

static void
server_connection_cb(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	struct conn *c;

	if (status < 0) {
		log_warnx("accept: %s", uv_strerror(status));
		return;
	}
	if (s->stopping || (c = calloc(1, sizeof(*c))) == NULL) {
		server_refuse(s);
		return;
	}
	c->srv = s;
	c->fd = -1;
	c->state = CONN_READING;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	conn_peer_name(c);
	c->serial = ++s->accepted;
	/* An address at its limit is refused before anyone else's connection is touched. */
	if (server_peer_count(s, c) >= SERVER_MAX_PER_PEER) {
		server_log_refusal(s, "too many from", c->peer);
		conn_close(c);
		return;
	}
	/* Closing frees a slot only in a later callback, so count only live ones (c included). */
	if (s->nconns - s->closing > SERVER_MAX_CONNECTIONS && !server_evict(s, c)) {
		conn_close(c);
		return;
	}
	conn_timer_set(c, SERVER_HEAD_TIMEOUT_MS);
	conn_read_start(c);
}

static void
server_listener_close_cb(uv_handle_t *h)
{
	struct server *s = h->data;

	s->listener_closed = 1;
	server_maybe_free(s);
}

int
server_start(struct server **out, uv_loop_t *loop, const char *bind, int port, const char *dir)
{
	struct sockaddr_storage addr;
	struct server *s;
	int rv;

	if (uv_ip4_addr(bind, port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(bind, port, (struct sockaddr_in6 *)&addr) != 0)
		return -EINVAL;
	if (strlen(dir) >= sizeof(s->dir) || (s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->loop = loop;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	if ((rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) != 0 ||
	    (rv = uv_listen((uv_stream_t *)&s->listener, 128, server_connection_cb)) != 0) {
		s->stopping = 1;
		uv_close((uv_handle_t *)&s->listener, server_listener_close_cb);
		return rv;
	}
	*out = s;
	return 0;
}

void
server_stop(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	uv_close((uv_handle_t *)&s->listener, server_listener_close_cb);
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		conn_close(c);
}

unsigned long
server_requests(const struct server *s)
{
	return s->requests;
}
