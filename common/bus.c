/* bus.c -- nng sockets over ipc:// in the runtime directory, fed into libuv loops. */
#include "bus.h"
#include "log.h"

#include <errno.h>
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

int
bus_dial(nng_socket *s, int (*open_fn)(nng_socket *), const char *rundir, const char *sockname,
	 const char *suffix)
{
	char url[160];
	int rv;

	if (bus_url(url, sizeof(url), rundir, sockname, suffix) < 0)
		return NNG_EINVAL;
	if ((rv = open_fn(s)) != 0)
		return rv;
	nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 250); /* a restarted peer is back in ~20 ms */
	nng_socket_set_int(*s, NNG_OPT_RECVBUF, 1024);
	nng_socket_set_int(*s, NNG_OPT_SENDBUF, 1024);
	/* Non-blocking: the peer may not be up yet; nng keeps retrying in the background. */
	if ((rv = nng_dial(*s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("%s: %s", url, nng_strerror(rv));
		nng_close(*s);
		return rv;
	}
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

	if (rv == 0 && (rv = nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0)
		nng_close(*s);
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
