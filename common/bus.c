/* bus.c -- nng sockets over ipc:// in the runtime directory, fed into libuv loops. */
#include "bus.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/transport/ipc/ipc.h>

static atomic_uint bus_seq;

int
bus_url(char *url, size_t size, const char *rundir, const char *sockname, const char *suffix)
{
	int n = snprintf(url, size, "ipc://%s/%s.%s", rundir, sockname, suffix);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
bus_listen(nng_socket *s, int (*open_fn)(nng_socket *), const char *rundir, const char *sockname,
	   const char *suffix)
{
	char url[160];
	nng_listener l;
	int rv;

	if (bus_url(url, sizeof(url), rundir, sockname, suffix) < 0)
		return NNG_EINVAL;
	if ((rv = open_fn(s)) != 0)
		return rv;
	if ((rv = nng_listener_create(&l, *s, url)) != 0 ||
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		log_warnx("%s: %s", url, nng_strerror(rv));
		nng_close(*s);
		return rv;
	}
	nng_socket_set_int(*s, NNG_OPT_RECVBUF, 1024);
	nng_socket_set_int(*s, NNG_OPT_SENDBUF, 1024);
	return 0;
}

/* A dialled socket, watched for a dialer that gave up (see bus_links_check). The pipe
 * callbacks run on nng's threads, the check on the owner's loop. Pipes are counted from
 * ADD_PRE: nng sends REM_POST for every pipe that had ADD_PRE, also for one closed before
 * ADD_POST, so counting from ADD_POST could go below zero. */
struct bus_link {
	atomic_int used;
	nng_socket sock;
	nng_dialer dialer;
	char url[160];
	atomic_int pipes;
	_Atomic uint64_t down_since_ms; /* monotonic; 0: not known yet (set at the first check) */
	pthread_mutex_t mtx;            /* the user's callbacks, set on a loop, read by nng */
	nng_pipe_cb user_cb[2];         /* ADD_POST, REM_POST */
	void *user_arg[2];
};

#define BUS_LINKS_MAX 16

static struct bus_link bus_links[BUS_LINKS_MAX] = {
    [0 ... BUS_LINKS_MAX - 1] = {.mtx = PTHREAD_MUTEX_INITIALIZER}};

static struct bus_link *
link_of(nng_socket s)
{
	for (int i = 0; i < BUS_LINKS_MAX; i++)
		if (atomic_load(&bus_links[i].used) &&
		    nng_socket_id(bus_links[i].sock) == nng_socket_id(s))
			return &bus_links[i];
	return NULL;
}

static void
link_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct bus_link *l = arg;
	int k = ev == NNG_PIPE_EV_ADD_POST ? 0 : 1;
	nng_pipe_cb cb;
	void *cb_arg;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		atomic_fetch_add(&l->pipes, 1);
		return;
	}
	if (ev == NNG_PIPE_EV_REM_POST && atomic_fetch_sub(&l->pipes, 1) <= 1)
		atomic_store(&l->down_since_ms, 0); /* the check stamps it */
	pthread_mutex_lock(&l->mtx);
	cb = l->user_cb[k];
	cb_arg = l->user_arg[k];
	pthread_mutex_unlock(&l->mtx);
	if (cb != NULL)
		cb(p, ev, cb_arg);
}

static struct bus_link *
link_add(nng_socket s, const char *url)
{
	for (int i = 0; i < BUS_LINKS_MAX; i++) {
		struct bus_link *l = &bus_links[i];

		if (atomic_load(&l->used))
			continue;
		pthread_mutex_lock(&l->mtx);
		memset(l->user_cb, 0, sizeof(l->user_cb));
		memset(l->user_arg, 0, sizeof(l->user_arg));
		pthread_mutex_unlock(&l->mtx);
		l->sock = s;
		l->dialer = (nng_dialer)NNG_DIALER_INITIALIZER;
		snprintf(l->url, sizeof(l->url), "%s", url);
		atomic_store(&l->pipes, 0);
		atomic_store(&l->down_since_ms, 0);
		atomic_store(&l->used, 1);
		nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, link_pipe_cb, l);
		nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, link_pipe_cb, l);
		nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, link_pipe_cb, l);
		return l;
	}
	log_warnx("%s: more than %d dialled sockets; this one is not watched", url, BUS_LINKS_MAX);
	return NULL;
}

int
bus_pipe_notify(nng_socket s, nng_pipe_ev ev, nng_pipe_cb cb, void *arg)
{
	struct bus_link *l = link_of(s);
	int k = ev == NNG_PIPE_EV_ADD_POST ? 0 : 1;

	if (l == NULL)
		return nng_pipe_notify(s, ev, cb, arg);
	if (ev != NNG_PIPE_EV_ADD_POST && ev != NNG_PIPE_EV_REM_POST)
		return NNG_ENOTSUP;
	pthread_mutex_lock(&l->mtx);
	l->user_arg[k] = arg;
	l->user_cb[k] = cb;
	pthread_mutex_unlock(&l->mtx);
	return 0;
}

int
bus_link_pipes(nng_socket s)
{
	struct bus_link *l = link_of(s);
	int n;

	if (l == NULL)
		return -1;
	n = atomic_load(&l->pipes);
	return n > 0 ? n : 0;
}

void
bus_link_forget(nng_socket s)
{
	struct bus_link *l = link_of(s);

	if (l == NULL)
		return;
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, NULL, NULL);
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, NULL, NULL);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, NULL, NULL);
	atomic_store(&l->used, 0);
}

int
bus_links_check(uint64_t now_ms)
{
	int redialled = 0;

	for (int i = 0; i < BUS_LINKS_MAX; i++) {
		struct bus_link *l = &bus_links[i];
		uint64_t since;
		nng_dialer d;
		int rv;

		if (!atomic_load(&l->used) || atomic_load(&l->pipes) > 0)
			continue;
		if ((since = atomic_load(&l->down_since_ms)) == 0) {
			atomic_store(&l->down_since_ms, now_ms);
			continue;
		}
		if (now_ms - since < BUS_REDIAL_MS)
			continue;
		/* The new dialer first, so the socket is never without one. */
		if ((rv = nng_dial(l->sock, l->url, &d, NNG_FLAG_NONBLOCK)) != 0) {
			if (rv == NNG_ECLOSED) { /* closed by its owner, at the end */
				atomic_store(&l->used, 0);
				continue;
			}
			log_debug("%s: dialling afresh: %s", l->url, nng_strerror(rv));
			atomic_store(&l->down_since_ms, now_ms);
			continue;
		}
		nng_dialer_close(l->dialer);
		l->dialer = d;
		atomic_store(&l->down_since_ms, now_ms);
		log_debug("%s: no connection for %d ms; dialling afresh", l->url, BUS_REDIAL_MS);
		redialled++;
	}
	return redialled;
}

int
bus_dial(nng_socket *s, int (*open_fn)(nng_socket *), const char *rundir, const char *sockname,
	 const char *suffix)
{
	struct bus_link *l;
	char url[160];
	nng_dialer d;
	int rv;

	if (bus_url(url, sizeof(url), rundir, sockname, suffix) < 0)
		return NNG_EINVAL;
	if ((rv = open_fn(s)) != 0)
		return rv;
	nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 250); /* a restarted peer is back in ~20 ms */
	nng_socket_set_int(*s, NNG_OPT_RECVBUF, 1024);
	nng_socket_set_int(*s, NNG_OPT_SENDBUF, 1024);
	/* Watched before the dial, so the first pipe is counted. */
	l = link_add(*s, url);
	/* Non-blocking: the peer may not be up yet; nng keeps retrying in the background. */
	if ((rv = nng_dial(*s, url, &d, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("%s: %s", url, nng_strerror(rv));
		bus_link_forget(*s);
		nng_close(*s);
		return rv;
	}
	if (l != NULL)
		l->dialer = d;
	return 0;
}

int
bus_inbox_listen(nng_socket *s, const char *rundir, const char *sockname)
{
	return bus_listen(s, nng_pull0_open, rundir, sockname, "ipc");
}

int
bus_push_dial(nng_socket *s, const char *rundir, const char *peer)
{
	return bus_dial(s, nng_push0_open, rundir, peer, "ipc");
}

int
bus_pub_listen(nng_socket *s, const char *rundir, const char *sockname)
{
	return bus_listen(s, nng_pub0_open, rundir, sockname, "pub");
}

int
bus_sub_dial(nng_socket *s, const char *rundir, const char *publisher)
{
	int rv = bus_dial(s, nng_sub0_open, rundir, publisher, "pub");

	if (rv == 0 && (rv = nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0) {
		bus_link_forget(*s);
		nng_close(*s);
	}
	return rv;
}

static void
bus_reader_drain(struct bus_reader *r)
{
	char err[160];

	while (!r->paused) {
		const struct msg_hdr *hdr;
		const void *payload;
		void *body, *copy;
		nng_msg *m;
		int rv;

		if ((rv = nng_recvmsg(r->sock, &m, NNG_FLAG_NONBLOCK)) != 0) {
			if (rv != NNG_EAGAIN)
				log_warnx("%s: %s", r->what, nng_strerror(rv));
			return;
		}
		/* nng's body may be only 4-byte aligned; payloads hold 8-byte fields that
		 * receivers read in place, so such a body is copied to malloc'ed memory. */
		body = nng_msg_body(m);
		copy = NULL;
		if (((uintptr_t)body & 7) != 0) {
			if ((copy = malloc(nng_msg_len(m))) == NULL) {
				log_warnx("%s: dropped a message: out of memory", r->what);
				nng_msg_free(m);
				continue;
			}
			body = memcpy(copy, body, nng_msg_len(m));
		}
		if (msg_check(body, nng_msg_len(m), &hdr, &payload, err, sizeof(err)) < 0) {
			log_warnx("%s: dropped a message: %s", r->what, err);
		} else {
			log_debug("%s: %s seq %u, %u bytes", r->what, msg_type_name(hdr->type),
				  hdr->seq, hdr->len);
			r->cb(r->ctx, hdr, payload);
		}
		free(copy);
		nng_msg_free(m);
	}
}

static void
bus_reader_poll_cb(uv_poll_t *p, int status, int events)
{
	struct bus_reader *r = p->data;

	(void)events;
	if (status < 0) {
		log_warnx("%s: poll: %s", r->what, uv_strerror(status));
		return;
	}
	bus_reader_drain(r);
}

int
bus_reader_start(struct bus_reader *r, uv_loop_t *loop, nng_socket s, const char *what,
		 bus_msg_cb cb, void *ctx)
{
	int fd, rv;

	memset(r, 0, sizeof(*r));
	r->sock = s;
	r->cb = cb;
	r->ctx = ctx;
	r->what = what;
	if ((rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_warnx("%s: recvfd: %s", what, nng_strerror(rv));
		return -1;
	}
	if ((rv = uv_poll_init(loop, &r->poll, fd)) != 0) {
		log_warnx("%s: uv_poll_init: %s", what, uv_strerror(rv));
		return -1;
	}
	r->poll.data = r;
	return uv_poll_start(&r->poll, UV_READABLE, bus_reader_poll_cb);
}

void
bus_reader_pause(struct bus_reader *r)
{
	r->paused = 1;
	uv_poll_stop(&r->poll);
}

void
bus_reader_resume(struct bus_reader *r)
{
	r->paused = 0;
	uv_poll_start(&r->poll, UV_READABLE, bus_reader_poll_cb);
	/* Messages may have arrived while paused: the fd is not re-signalled for them. */
	bus_reader_drain(r);
}

void
bus_reader_close(struct bus_reader *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->poll))
		uv_close((uv_handle_t *)&r->poll, NULL);
}

/* Send with an aio: timeout_ms 0 is "now or NNG_EAGAIN", as NNG_FLAG_NONBLOCK. */
static int
bus_send_aio(nng_socket s, unsigned type, const void *payload, size_t len, int timeout_ms)
{
	size_t n;
	void *buf = msg_build(type, atomic_fetch_add(&bus_seq, 1), payload, len, &n);
	nng_aio *aio = NULL;
	nng_msg *m = NULL;
	int rv;

	if (buf == NULL)
		return NNG_ENOMEM;
	if ((rv = nng_msg_alloc(&m, 0)) != 0 || (rv = nng_msg_append(m, buf, n)) != 0)
		goto out;
	if (timeout_ms <= 0) {
		if ((rv = nng_sendmsg(s, m, NNG_FLAG_NONBLOCK)) == 0)
			m = NULL;
		goto out;
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto out;
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_send_aio(s, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0)
		m = NULL; /* on failure the message is still ours */
out:
	if (m != NULL)
		nng_msg_free(m);
	if (aio != NULL)
		nng_aio_free(aio);
	free(buf);
	if (rv != 0)
		log_debug("%s: %s", msg_type_name(type), nng_strerror(rv));
	return rv;
}

int
bus_send(nng_socket s, unsigned type, const void *payload, size_t len)
{
	return bus_send_aio(s, type, payload, len, 0);
}

int
bus_send_wait(nng_socket s, unsigned type, const void *payload, size_t len, int timeout_ms)
{
	return bus_send_aio(s, type, payload, len, timeout_ms > 0 ? timeout_ms : 1);
}

int
bus_call(nng_socket req, unsigned type, const void *payload, size_t len, unsigned reply_type,
	 void *reply, size_t reply_size, int timeout_ms)
{
	const struct msg_hdr *hdr;
	const void *body;
	char err[160];
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *m = NULL;
	size_t n;
	void *buf;
	int rv;

	if ((buf = msg_build(type, atomic_fetch_add(&bus_seq, 1), payload, len, &n)) == NULL)
		return NNG_ENOMEM;
	if ((rv = nng_ctx_open(&ctx, req)) != 0) {
		free(buf);
		return rv;
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_ctx_close(ctx);
		free(buf);
		return rv;
	}
	nng_aio_set_timeout(aio, timeout_ms);
	if ((rv = nng_msg_alloc(&m, 0)) != 0 || (rv = nng_msg_append(m, buf, n)) != 0)
		goto out;
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto out; /* m still ours */
	m = NULL;
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto out;
	m = nng_aio_get_msg(aio);
	if (msg_check(nng_msg_body(m), nng_msg_len(m), &hdr, &body, err, sizeof(err)) < 0) {
		log_warnx("%s: bad reply: %s", msg_type_name(type), err);
		rv = NNG_EPROTO;
		goto out;
	}
	if (hdr->type != reply_type) {
		log_warnx("%s: reply is %s", msg_type_name(type), msg_type_name(hdr->type));
		rv = NNG_EPROTO;
		goto out;
	}
	memcpy(reply, body, hdr->len < reply_size ? hdr->len : reply_size);
out:
	if (m != NULL)
		nng_msg_free(m);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	free(buf);
	return rv;
}
