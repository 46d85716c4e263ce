/* bus.h -- the nng bus between processes, and its glue to a libuv loop.
 *
 * Every process binds an inbox (PULL) at ipc://<runtime_dir>/<name>.ipc; peers send to it
 * with PUSH. Broadcasters bind PUB at <name>.pub. httpd answers clip requests with REP at
 * httpd.rep. Dialers reconnect by themselves, so any process can restart under the others. */
#ifndef SB_BUS_H
#define SB_BUS_H

#include <nng/nng.h>
#include <stdint.h>
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

/* Every socket bus_dial made is watched: nng 1.5.2 (Debian 12) can leave a dialer that never
 * tries again. A connection cut during the SP handshake (to a peer being killed: EPIPE) comes
 * back from its transport as NNG_ECLOSED, and the dialer takes that for its own close and stops
 * (upstream turned it into NNG_ECONNSHUT with the fix of nng issue #1518). bus_links_check,
 * called about once a second, gives a socket that has had no pipe for BUS_REDIAL_MS a fresh
 * dialer; to a peer that is merely down that costs one more connect attempt. Returns the
 * number of sockets dialled afresh. */
#define BUS_REDIAL_MS 3000
int bus_links_check(uint64_t now_ms);
/* Pipe events of a dialled socket: bus_dial owns the socket's nng_pipe_notify, so users
 * register here (one callback per event, NNG_PIPE_EV_ADD_POST or NNG_PIPE_EV_REM_POST; NULL
 * removes it). Other sockets go straight to nng_pipe_notify. */
int bus_pipe_notify(nng_socket s, nng_pipe_ev ev, nng_pipe_cb cb, void *arg);
/* Pipes (connections) of a dialled socket now; -1 for a socket bus_dial did not make. */
int bus_link_pipes(nng_socket s);
/* Stop watching s (before closing it). */
void bus_link_forget(nng_socket s);

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
