/* bus.h -- the nng bus between processes, and its glue to a libuv loop.
 *
 * Every process binds an inbox (PULL) at ipc://<runtime_dir>/<name>.ipc; peers send to it
 * with PUSH. Broadcasters bind PUB at <name>.pub. httpd answers clip requests with REP at
 * httpd.rep. Dialers reconnect by themselves, so any process can restart under the others. */
#ifndef SB_BUS_H
#define SB_BUS_H

#include <nng/nng.h>
#include <uv.h>

#include "msg.h"

typedef void (*bus_msg_cb)(void *ctx, const struct msg_hdr *hdr, const void *payload);

/* Feeds checked messages of one nng socket to a callback on a libuv loop. */
struct bus_reader {
	nng_socket sock;
	uv_poll_t poll;
	bus_msg_cb cb;
	void *ctx;
	const char *what; /* for logs: "inbox", "speakers" */
	int paused;
};

int bus_url(char *url, size_t size, const char *rundir, const char *name, const char *suffix);

int bus_listen(nng_socket *s, int (*open_fn)(nng_socket *), const char *rundir, const char *name,
	       const char *suffix);
int bus_dial(nng_socket *s, int (*open_fn)(nng_socket *), const char *rundir, const char *name,
	     const char *suffix);

/* Convenience forms of the above. */
int bus_inbox_listen(nng_socket *s, const char *rundir, const char *name);
int bus_push_dial(nng_socket *s, const char *rundir, const char *peer);
int bus_pub_listen(nng_socket *s, const char *rundir, const char *name);
int bus_sub_dial(nng_socket *s, const char *rundir, const char *publisher);

int bus_reader_start(struct bus_reader *r, uv_loop_t *loop, nng_socket s, const char *what,
		     bus_msg_cb cb, void *ctx);
/* Stop and resume delivery (a REP socket must answer one request before taking the next). */
void bus_reader_pause(struct bus_reader *r);
void bus_reader_resume(struct bus_reader *r);
void bus_reader_close(struct bus_reader *r);

/* Send one message without blocking. Thread-safe. Returns 0 or a negative nng error. */
int bus_send(nng_socket s, unsigned type, const void *payload, size_t len);

/* Send one message, waiting at most timeout_ms while the peer's pipe is still taken by the
 * previous one. For replies on a REP socket: there a second reply to the same peer fails
 * with NNG_EAGAIN without blocking until the first has gone out, and the requester would
 * wait for its timeout. The wait is that of a local write, unless the peer is stuck. */
int bus_send_wait(nng_socket s, unsigned type, const void *payload, size_t len, int timeout_ms);

/* Synchronous request over a REQ socket, for use from worker threads: sends, waits up to
 * timeout_ms for the reply, checks it is of reply_type and copies at most reply_size bytes of
 * its payload into reply. Returns 0 or a negative nng error. */
int bus_call(nng_socket req, unsigned type, const void *payload, size_t len, unsigned reply_type,
	     void *reply, size_t reply_size, int timeout_ms);

#endif
