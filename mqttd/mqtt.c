/* mqtt.c -- the broker session: libmosquitto driven by a libuv loop, with its own reconnects.
 *
 * libmosquitto runs in "threaded" mode without a thread of its own: packets it queues leave
 * only when this file calls mosquitto_loop_write, so a QoS 1 PUBACK follows the return of
 * on_message. The socket is watched through a dup() of libmosquitto's fd: libmosquitto closes
 * its fd inside loop_read/loop_write, while ours stays open until its poll is closed, so no fd
 * a uv_poll watches is ever closed and a reused fd number never confuses the loop. */
#include "mqtt.h"
#include "backoff.h"
#include "log.h"
#include "msg.h"
#include "security.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MQTT_MISC_MS 1000        /* keepalive bookkeeping period */
#define MQTT_STOP_MS 3000        /* how long mqtt_stop waits for the broker */
#define MQTT_OFFLINE_QUEUE 256   /* publishes kept while disconnected */

/* A uv_poll on our dup of libmosquitto's socket. Freed in its close callback. */
struct mqtt_poll {
	uv_poll_t handle;
	struct mqtt_session *session;
	int mosq_fd; /* libmosquitto's fd this poll was made for */
	int fd;      /* our dup, watched by handle */
	int events;  /* UV_READABLE | UV_WRITABLE currently asked for */
};

struct mqtt_session {
	uv_loop_t *loop;
	struct mosquitto *mosq;
	struct mqtt_options opt;
	struct mqtt_handlers h;
	void *ctx;
	char host[256];

	struct mqtt_poll *poll;    /* NULL while there is no socket */
	uv_timer_t misc_timer;     /* mosquitto_loop_misc */
	uv_timer_t reconnect_timer;
	uv_timer_t stop_timer;
	uv_prepare_t prepare;      /* keeps the poll in step with libmosquitto before each wait */

	struct reconnect reconnect; /* backoff and twin detection */
	int host_set;              /* mosquitto_connect_async has taken host and port */
	int connected;
	uint64_t connected_at;     /* util_mono_ms of the last CONNACK */
	unsigned failures;         /* failed attempts since the last connection */
	char last_failure[128];    /* logged once until it changes */
	unsigned offline_queued;
	int offline_warned;

	int stopping, finished;
	int stop_mid;
	char refused[128];         /* CONNACK refusal, reported when the connection drops */

	int session_known;         /* the broker should hold a session for our client id */
	int session_present;       /* last CONNACK's flag, -1 before the first */
	unsigned connects;
	unsigned sessions_lost;
	uint64_t session_lost_ms;
	int refusing;              /* mqtt_refuse dropped this connection */
	unsigned refusals;
	char refuse_reason[128];
};

static void mqtt_schedule_reconnect(struct mqtt_session *s);
static void mqtt_finish(struct mqtt_session *s);

static const char *
mqtt_reason(int rc)
{
	const char *tls = security_take_failure(); /* says more than "A TLS error occurred" */

	if (tls != NULL)
		return tls;
	return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

static void
mqtt_poll_close_cb(uv_handle_t *h)
{
	struct mqtt_poll *p = h->data;

	close(p->fd);
	free(p);
}

/* Stop watching the current socket. Our dup is closed only after the poll is. */
static void
mqtt_poll_drop(struct mqtt_session *s)
{
	struct mqtt_poll *p = s->poll;

	if (p == NULL)
		return;
	s->poll = NULL;
	uv_close((uv_handle_t *)&p->handle, mqtt_poll_close_cb);
}

static void mqtt_poll_sync(struct mqtt_session *s);

/* ACK what the broker sent at once. After a small packet of its own (a PUBACK, a PUBCOMP)
 * a broker with Nagle on (mosquitto's default: set_tcp_nodelay false) holds its next packet,
 * a request for us, until that one is ACKed; our delayed ACK would make that 40 ms. The
 * kernel leaves quick-ACK mode by itself, so it is set again after every read. */
static void
mqtt_quickack(struct mqtt_session *s)
{
	int fd = mosquitto_socket(s->mosq), one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}
static void mqtt_connect_failed(struct mqtt_session *s, const char *reason);

static void
mqtt_poll_cb(uv_poll_t *h, int status, int events)
{
	struct mqtt_poll *p = h->data;
	struct mqtt_session *s = p->session;
	int rc = MOSQ_ERR_SUCCESS;

	if (s->poll != p)
		return;
	if (status < 0) {
		log_debug("poll: %s", uv_strerror(status));
		events = UV_READABLE | UV_WRITABLE; /* let libmosquitto meet the error */
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		rc = mosquitto_loop_read(s->mosq, 1);
		mqtt_quickack(s);
	}
	if ((events & UV_WRITABLE) && s->poll == p && mosquitto_socket(s->mosq) == p->mosq_fd)
		rc = mosquitto_loop_write(s->mosq, 1);
	/* A failed TLS handshake closes the socket without a disconnect callback: without this
	 * the session would wait for a socket that never comes (a wrong CA wedged mqttd). */
	if (rc != MOSQ_ERR_SUCCESS && mosquitto_socket(s->mosq) < 0 && !s->connected &&
	    !s->stopping && !uv_is_active((uv_handle_t *)&s->reconnect_timer)) {
		mqtt_poll_drop(s);
		mqtt_connect_failed(s, mqtt_reason(rc));
		return;
	}
	mqtt_poll_sync(s);
}

/* Make the poll follow libmosquitto: a new socket gets a new poll, no socket none, and
 * UV_WRITABLE is asked for exactly while libmosquitto has something to send. */
static void
mqtt_poll_sync(struct mqtt_session *s)
{
	int fd = s->finished ? -1 : mosquitto_socket(s->mosq), events, rv;
	struct mqtt_poll *p = s->poll;

	if (p != NULL && p->mosq_fd != fd)
		mqtt_poll_drop(s);
	if (fd < 0)
		return;
	if (s->poll == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			log_warnx("out of memory");
			return;
		}
		p->session = s;
		p->mosq_fd = fd;
		if ((p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
			log_warn("dup");
			free(p);
			return;
		}
		if ((rv = uv_poll_init(s->loop, &p->handle, p->fd)) != 0) {
			log_warnx("uv_poll_init: %s", uv_strerror(rv));
			close(p->fd);
			free(p);
			return;
		}
		p->handle.data = p;
		s->poll = p;
	}
	p = s->poll;
	events = UV_READABLE | (mosquitto_want_write(s->mosq) ? UV_WRITABLE : 0);
	if (events != p->events) {
		if ((rv = uv_poll_start(&p->handle, events, mqtt_poll_cb)) != 0)
			log_warnx("uv_poll_start: %s", uv_strerror(rv));
		else
			p->events = events;
	}
}

static void
mqtt_prepare_cb(uv_prepare_t *h)
{
	mqtt_poll_sync(h->data);
}

static void
mqtt_misc_cb(uv_timer_t *t)
{
	struct mqtt_session *s = t->data;

	if (mosquitto_socket(s->mosq) >= 0)
		mosquitto_loop_misc(s->mosq);
}

/* A connection attempt failed before the broker accepted us. Logged once per reason. */
static void
mqtt_connect_failed(struct mqtt_session *s, const char *reason)
{
	s->failures++;
	if (strcmp(reason, s->last_failure) != 0) {
		log_warnx("broker %s:%d: %s; retrying with backoff", s->opt.host, s->opt.port,
			  reason);
		msg_strlcpy(s->last_failure, reason, sizeof(s->last_failure));
	} else {
		log_debug("broker %s:%d: %s (attempt %u)", s->opt.host, s->opt.port, reason,
			  s->failures);
	}
	mqtt_schedule_reconnect(s);
}

static void
mqtt_attempt(struct mqtt_session *s)
{
	int rc;

	/* Whatever socket there was is gone or about to be replaced. */
	mqtt_poll_drop(s);
	if (s->host_set)
		rc = mosquitto_reconnect_async(s->mosq);
	else
		rc = mosquitto_connect_async(s->mosq, s->opt.host, s->opt.port, s->opt.keepalive_s);
	if (rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_NOMEM)
		s->host_set = 1;
	if (rc != MOSQ_ERR_SUCCESS) {
		mqtt_connect_failed(s, mqtt_reason(rc));
		return;
	}
	log_debug("connecting to %s:%d", s->opt.host, s->opt.port);
	mqtt_poll_sync(s);
}

static void
mqtt_reconnect_cb(uv_timer_t *t)
{
	struct mqtt_session *s = t->data;

	if (!s->stopping)
		mqtt_attempt(s);
}

static void
mqtt_schedule_reconnect(struct mqtt_session *s)
{
	uint32_t delay = reconnect_delay(&s->reconnect, (uint32_t)random());

	if (s->stopping)
		return;
	log_debug("next attempt in %u ms", delay);
	uv_timer_start(&s->reconnect_timer, mqtt_reconnect_cb, delay, 0);
}

/* Report what the end of a session says about a twin; the delay follows from it. */
static void
mqtt_judge_session(struct mqtt_session *s, uint64_t lived)
{
	switch (reconnect_session_ended(&s->reconnect, lived)) {
	case RECONNECT_TWIN_FOUND:
		log_errorx("%d connections in a row ended within %d s: another client is probably "
			   "using client id %s; next attempt in about %d s",
			   RECONNECT_SHORT_SESSIONS, RECONNECT_STABLE_MS / 1000, s->opt.client_id,
			   RECONNECT_TWIN_HOLD_MS / 1000);
		break;
	case RECONNECT_TWIN_AGAIN:
		/* The cause was logged when the twin was found; this is the same story. */
		log_debug("client id %s was taken over again: another instance is connected; "
			   "next attempt in about %d s",
			   s->opt.client_id, RECONNECT_TWIN_HOLD_MS / 1000);
		break;
	case RECONNECT_RETRY:
		break;
	}
}

/* A CONNACK without a session although the broker had one for us: whatever it had queued
 * for us while we were away (requests included) is gone. Said once per loss, loudly. */
static void
mqtt_check_session(struct mqtt_session *s, int present)
{
	s->session_present = present;
	if (present || !s->session_known) {
		if (!s->session_known && s->opt.session_marker != NULL) {
			FILE *f = fopen(s->opt.session_marker, "w");

			if (f != NULL) {
				fputs("the broker has held a session for this client id\n", f);
				fclose(f);
			}
		}
		s->session_known = 1;
		return;
	}
	s->sessions_lost++;
	s->session_lost_ms = util_now_ms();
	log_errorx("broker %s:%d has no session for client id %s (restarted without persistence, "
		   "or the session expired): requests published while the bridge was away are lost",
		   s->opt.host, s->opt.port, s->opt.client_id);
}

static void
mqtt_on_connect(struct mosquitto *mosq, void *obj, int rc, int flags)
{
	struct mqtt_session *s = obj;

	(void)mosq;
	if (rc != 0) {
		/* libmosquitto drops the connection next; on_disconnect reports and retries. */
		snprintf(s->refused, sizeof(s->refused), "session refused: %s",
			 mosquitto_connack_string(rc));
		return;
	}
	if (s->failures > 0)
		log_info("connected to %s:%d as %s after %u failed attempts", s->opt.host,
			 s->opt.port, s->opt.client_id, s->failures);
	else
		log_info("connected to %s:%d as %s", s->opt.host, s->opt.port, s->opt.client_id);
	s->connected = 1;
	s->connects++;
	s->connected_at = util_mono_ms();
	mqtt_check_session(s, flags & 1);
	reconnect_connected(&s->reconnect, s->failures);
	s->failures = 0;
	s->last_failure[0] = '\0';
	s->offline_queued = 0;
	s->offline_warned = 0;
	if (s->h.connected != NULL && !s->stopping)
		s->h.connected(s->ctx);
}

static void
mqtt_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt_session *s = obj;
	int was_connected = s->connected;
	uint64_t lived;

	(void)mosq;
	s->connected = 0;
	if (s->stopping) {
		log_info("disconnected from %s:%d", s->opt.host, s->opt.port);
		mqtt_finish(s);
		return;
	}
	if (s->refusing) {
		/* Our own doing: no twin to judge, and the backoff keeps growing while the cause
		 * (a spool that cannot be written) lasts. */
		s->refusing = 0;
		msg_strlcpy(s->last_failure, s->refuse_reason, sizeof(s->last_failure));
		s->failures++;
		mqtt_schedule_reconnect(s);
		return;
	}
	if (!was_connected) {
		char reason[128];

		msg_strlcpy(reason, s->refused[0] != '\0' ? s->refused : mqtt_reason(rc),
			    sizeof(reason));
		s->refused[0] = '\0';
		mqtt_connect_failed(s, reason);
		return;
	}
	lived = util_mono_ms() - s->connected_at;
	log_warnx("disconnected from %s:%d after %llu s: %s", s->opt.host, s->opt.port,
		  (unsigned long long)(lived / 1000), mqtt_reason(rc));
	mqtt_judge_session(s, lived);
	mqtt_schedule_reconnect(s);
}

static void
mqtt_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct mqtt_session *s = obj;

	(void)mosq;
	if (s->h.published != NULL)
		s->h.published(s->ctx, mid);
	if (s->stopping && mid == s->stop_mid) {
		log_debug("last message acknowledged, disconnecting");
		mosquitto_disconnect(s->mosq);
	}
}

static void
mqtt_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	struct mqtt_session *s = obj;

	(void)mosq;
	/* A refused connection acknowledges nothing more; the broker redelivers these too. */
	if (s->refusing)
		return;
	/* Even while stopping: the PUBACK leaves after this returns, so dropping it would lose it. */
	if (s->h.message != NULL)
		s->h.message(s->ctx, m);
}

static void
mqtt_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	(void)mosq;
	(void)obj;
	(void)level;
	log_debug("libmosquitto: %s", str);
}

struct mqtt_session *
mqtt_open(uv_loop_t *loop, const struct mqtt_options *opt, const struct mqtt_handlers *h,
	  void *ctx)
{
	struct mqtt_session *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->opt = *opt;
	s->h = *h;
	s->ctx = ctx;
	reconnect_init(&s->reconnect);
	s->session_present = -1;
	s->session_known = opt->session_marker != NULL && access(opt->session_marker, F_OK) == 0;
	srandom((unsigned)(util_now_ms() ^ (uint64_t)getpid()));
	mosquitto_lib_init();
	if ((s->mosq = mosquitto_new(opt->client_id, false, s)) == NULL) {
		log_warn("mosquitto_new");
		goto fail;
	}
	/* TCP_NODELAY: a PUBACK and the event that follows it are small writes; with Nagle the
	 * second waits for the broker's delayed ACK (40 ms on Linux). */
	if ((rc = mosquitto_threaded_set(s->mosq, true)) != MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1)) != MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_will_set(s->mosq, opt->will_topic, (int)strlen(opt->will_payload),
				     opt->will_payload, 1, true)) != MOSQ_ERR_SUCCESS) {
		log_warnx("libmosquitto setup: %s", mosquitto_strerror(rc));
		goto fail;
	}
	mosquitto_connect_with_flags_callback_set(s->mosq, mqtt_on_connect);
	mosquitto_disconnect_callback_set(s->mosq, mqtt_on_disconnect);
	mosquitto_publish_callback_set(s->mosq, mqtt_on_publish);
	mosquitto_message_callback_set(s->mosq, mqtt_on_message);
	mosquitto_log_callback_set(s->mosq, mqtt_on_log); /* debug only, the level may change */
	/* After the log callback: security's own one replaces it and watches for failures. */
	if (opt->cfg != NULL && security_apply(s->mosq, opt->cfg) < 0)
		goto fail;

	uv_timer_init(loop, &s->misc_timer);
	uv_timer_init(loop, &s->reconnect_timer);
	uv_timer_init(loop, &s->stop_timer);
	uv_prepare_init(loop, &s->prepare);
	s->misc_timer.data = s->reconnect_timer.data = s->stop_timer.data = s;
	s->prepare.data = s;
	uv_timer_start(&s->misc_timer, mqtt_misc_cb, MQTT_MISC_MS, MQTT_MISC_MS);
	uv_prepare_start(&s->prepare, mqtt_prepare_cb);
	mqtt_attempt(s);
	return s;
fail:
	if (s->mosq != NULL)
		mosquitto_destroy(s->mosq);
	mosquitto_lib_cleanup();
	free(s);
	return NULL;
}

int
mqtt_publish(struct mqtt_session *s, const char *topic, const void *payload, size_t len,
	     int retain)
{
	return mqtt_publish_mid(s, topic, payload, len, 1, retain, NULL);
}

int
mqtt_publish_mid(struct mqtt_session *s, const char *topic, const void *payload, size_t len,
		 int qos, int retain, int *mid)
{
	int rc;

	if (s->finished)
		return -1;
	if (!s->connected) {
		/* libmosquitto keeps QoS 1 messages for the next connection; keep that bounded. */
		if (s->offline_queued >= MQTT_OFFLINE_QUEUE) {
			if (!s->offline_warned++)
				log_warnx("broker down: dropping messages after %d queued",
					  MQTT_OFFLINE_QUEUE);
			return -1;
		}
		s->offline_queued++;
	}
	rc = mosquitto_publish(s->mosq, mid, topic, (int)len, payload, qos, retain != 0);
	if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN)
		return 0;
	log_warnx("%s: %s", topic, mosquitto_strerror(rc));
	return -1;
}

int
mqtt_subscribe(struct mqtt_session *s, const char *pattern)
{
	int rc = mosquitto_subscribe(s->mosq, NULL, pattern, 1);

	if (rc != MOSQ_ERR_SUCCESS) {
		log_warnx("%s: %s", pattern, mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

int
mqtt_is_connected(const struct mqtt_session *s)
{
	return s->connected;
}

void
mqtt_refuse(struct mqtt_session *s, const char *reason)
{
	int fd = mosquitto_socket(s->mosq);

	if (s->refusing || fd < 0)
		return;
	s->refusing = 1;
	s->refusals++;
	msg_strlcpy(s->refuse_reason, reason, sizeof(s->refuse_reason));
	log_warnx("dropping the broker connection without acknowledging: %s", reason);
	/* The PUBACK of the message in hand is only queued (threaded mode): with the socket shut
	 * down it can never be written, and reconnecting discards libmosquitto's packet queue.
	 * libmosquitto meets the end of the stream on its next read and reports a disconnect. */
	shutdown(fd, SHUT_RDWR);
}

void
mqtt_get_status(const struct mqtt_session *s, struct mqtt_status *st)
{
	memset(st, 0, sizeof(*st));
	st->connected = s->connected;
	st->connects = s->connects;
	st->session_present = s->session_present;
	st->sessions_lost = s->sessions_lost;
	st->session_lost_ms = s->session_lost_ms;
	st->twin_suspected = s->reconnect.twin_suspected;
	st->refusals = s->refusals;
	msg_strlcpy(st->last_failure, s->last_failure, sizeof(st->last_failure));
}

static void
mqtt_stop_timeout_cb(uv_timer_t *t)
{
	struct mqtt_session *s = t->data;

	log_warnx("broker %s:%d did not confirm the last message within %d ms", s->opt.host,
		  s->opt.port, MQTT_STOP_MS);
	mosquitto_disconnect(s->mosq);
	if (mosquitto_socket(s->mosq) >= 0)
		mosquitto_loop_write(s->mosq, 1);
	mqtt_finish(s);
}

void
mqtt_stop(struct mqtt_session *s, const char *last_topic, const char *last_payload)
{
	int rc;

	if (s->stopping)
		return;
	s->stopping = 1;
	uv_timer_stop(&s->reconnect_timer);
	if (s->connected) {
		rc = mosquitto_publish(s->mosq, &s->stop_mid, last_topic, (int)strlen(last_payload),
				       last_payload, 1, true);
		if (rc == MOSQ_ERR_SUCCESS) {
			/* on_publish disconnects; on_disconnect finishes. */
			uv_timer_start(&s->stop_timer, mqtt_stop_timeout_cb, MQTT_STOP_MS, 0);
			return;
		}
		log_warnx("%s: %s", last_topic, mosquitto_strerror(rc));
	}
	mosquitto_disconnect(s->mosq);
	mqtt_finish(s);
}

/* Close every handle of the session; the session itself stays until mqtt_free. */
static void
mqtt_finish(struct mqtt_session *s)
{
	if (s->finished)
		return;
	s->finished = 1;
	mqtt_poll_drop(s);
	uv_close((uv_handle_t *)&s->misc_timer, NULL);
	uv_close((uv_handle_t *)&s->reconnect_timer, NULL);
	uv_close((uv_handle_t *)&s->stop_timer, NULL);
	uv_close((uv_handle_t *)&s->prepare, NULL);
	if (s->h.stopped != NULL)
		s->h.stopped(s->ctx);
}

void
mqtt_free(struct mqtt_session *s)
{
	if (s == NULL)
		return;
	mosquitto_destroy(s->mosq);
	mosquitto_lib_cleanup();
	free(s);
}
