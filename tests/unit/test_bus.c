/* test_bus.c -- a dialled bus socket whose dialer gave up is dialled afresh (bus_links_check):
 * real nng sockets over ipc:// in a temporary directory. The nng 1.5.2 bug itself (a dialer
 * that stops after NNG_ECLOSED in the handshake) needs a peer killed at the right moment; here
 * the dialer is closed by hand, which leaves the socket in the same state. */
#include "bus.h"
#include "check.h"
#include "util.h"

#include <nng/protocol/pipeline0/pull.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int ups, downs;
static nng_dialer last_dialer;

static void
up_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	(void)arg;
	last_dialer = nng_pipe_dialer(p);
	atomic_fetch_add(&ups, 1);
}

static void
down_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	atomic_fetch_add(&downs, 1);
}

/* Wait up to ms for *v to reach want. */
static int
wait_for(atomic_int *v, int want, int ms)
{
	struct timespec t = {0, 10 * 1000 * 1000};

	for (int waited = 0; waited < ms; waited += 10) {
		if (atomic_load(v) >= want)
			return 1;
		nanosleep(&t, NULL);
	}
	return atomic_load(v) >= want;
}

/* A message sent on push arrives at pull within 2 s. */
static int
carries_messages(nng_socket push, nng_socket pull)
{
	nng_msg *m;

	nng_socket_set_ms(pull, NNG_OPT_RECVTIMEO, 2000);
	if (bus_send(push, MSG_SPEAKERS_QUERY, NULL, 0) != 0 || nng_recvmsg(pull, &m, 0) != 0)
		return 0;
	nng_msg_free(m);
	return 1;
}

int
main(void)
{
	char dir[] = "/tmp/sbbusXXXXXX";
	nng_socket push, pull;
	uint64_t now = util_mono_ms();

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* No peer yet: the first check notes when it went quiet, a later one redials. */
	CHECK_INT(bus_push_dial(&push, dir, "peer"), 0);
	CHECK_INT(bus_pipe_notify(push, NNG_PIPE_EV_ADD_POST, up_cb, NULL), 0);
	CHECK_INT(bus_pipe_notify(push, NNG_PIPE_EV_REM_POST, down_cb, NULL), 0);
	CHECK_INT(bus_links_check(now), 0);
	CHECK_INT(bus_links_check(now + BUS_REDIAL_MS - 1), 0);
	CHECK_INT(bus_links_check(now + BUS_REDIAL_MS), 1);

	/* The peer comes: connected, and a connected socket is left alone. */
	CHECK_INT(bus_inbox_listen(&pull, dir, "peer"), 0);
	CHECK(wait_for(&ups, 1, 3000));
	CHECK_INT(bus_link_pipes(push), 1);
	CHECK_INT(bus_link_pipes(pull), -1); /* not dialled */
	CHECK_INT(bus_links_check(now + 10 * BUS_REDIAL_MS), 0);
	CHECK(carries_messages(push, pull));

	/* The peer goes, and the dialer gives up as nng 1.5.2's can: nothing reconnects. The
	 * dialer is closed once its pipe is gone, as bus_links_check does: closing a dialer
	 * whose pipe is up corrupts nng 1.5.2's push socket (a crash in the next nng_sendmsg,
	 * or a message lost: 4 runs in 170; nng issues 1653 and 1658, fixed in 1.6). */
	nng_close(pull);
	CHECK(wait_for(&downs, 1, 3000));
	nng_dialer_close(last_dialer);
	CHECK_INT(bus_inbox_listen(&pull, dir, "peer"), 0);
	usleep(600 * 1000); /* more than twice the longest reconnect interval */
	CHECK_INT(atomic_load(&ups), 1);
	/* The check sees the socket without a pipe, and in BUS_REDIAL_MS dials afresh. */
	now = util_mono_ms();
	CHECK_INT(bus_links_check(now), 0);
	CHECK_INT(bus_links_check(now + BUS_REDIAL_MS), 1);
	CHECK(wait_for(&ups, 2, 3000));
	/* And it carries messages again. */
	CHECK(carries_messages(push, pull));
	CHECK_INT(bus_links_check(now + 10 * BUS_REDIAL_MS), 0);

	/* A closed socket is dropped from the watch, not dialled. */
	nng_close(push);
	CHECK_INT(bus_links_check(now + 20 * BUS_REDIAL_MS), 0);
	CHECK_INT(bus_links_check(now + 30 * BUS_REDIAL_MS), 0);
	nng_close(pull);
	nng_fini();
	rmdir(dir);
	CHECK_DONE();
}
