/* health.c -- a worker's side of supervision: readiness line, health replies, fatal reason. */
#include "health.h"
#include "bus.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/protocol/survey0/respond.h>

static struct {
	int fd;                /* readiness pipe; -1 none; -2 not looked up yet */
	int ready_sent;
	uv_loop_t *loop;
	nng_socket sock;
	struct bus_reader reader;
	uv_signal_t sigterm, sigint;
	uv_timer_t links; /* bus_links_check once a second */
	int running;
	health_facts_fn facts;
	void *ctx;
	char name[16];
	uint64_t started_ms;
	nng_aio *aio;          /* the reply in flight */
	atomic_int sending;
	uint32_t seq;
} H = {.fd = -2};

/* The readiness fd from the environment, checked to be a pipe we inherited. Kept open for the
 * life of the process (close-on-exec), so a fatal reason can follow the ready line. */
static int
health_fd(void)
{
	const char *s;
	char *end;
	long fd;

	if (H.fd != -2)
		return H.fd;
	H.fd = -1;
	if ((s = getenv(HEALTH_READY_ENV)) == NULL)
		return -1;
	unsetenv(HEALTH_READY_ENV);
	errno = 0;
	fd = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || fd < 3 || fd > 1023 ||
	    fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	H.fd = (int)fd;
	return H.fd;
}

/* One line, one write: lines up to PIPE_BUF arrive whole. */
static void
health_line(const char *text)
{
	char line[512];
	int fd = health_fd();
	size_t n;

	if (fd < 0)
		return;
	n = strlen(text);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	memcpy(line, text, n);
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	while (write(fd, line, n) < 0 && errno == EINTR)
		;
}

void
health_ready(void)
{
	if (H.ready_sent)
		return;
	H.ready_sent = 1;
	health_line("");
}

void
health_fatal_hook(int status, const char *message)
{
	char line[480];

	/* An empty reason would read as "ready". */
	snprintf(line, sizeof(line), "exit %d: %s", status, message[0] ? message : "fatal error");
	health_line(line);
}

void
health_json_string(struct strbuf *b, const char *s)
{
	int utf8 = util_utf8_valid(s, strlen(s));

	strbuf_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			strbuf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			strbuf_printf(b, "\\u%04x", *p);
		else if (*p >= 0x80 && !utf8)
			strbuf_puts(b, "\\ufffd");
		else
			strbuf_append(b, (const char *)p, 1);
	}
	strbuf_append(b, "\"", 1);
}

/* A respondent has no send buffer: a non-blocking send fails while the pipe is busy, and a
 * blocking one would stall the loop if the supervisor stopped reading. So the reply leaves
 * asynchronously, bounded in time, one at a time. Runs on an nng thread. */
static void
health_sent_cb(void *arg)
{
	(void)arg;
	if (nng_aio_result(H.aio) != 0) {
		nng_msg_free(nng_aio_get_msg(H.aio));
		nng_aio_set_msg(H.aio, NULL);
	}
	atomic_store(&H.sending, 0);
}

static void
health_send(const void *payload, size_t len)
{
	void *buf;
	nng_msg *m;
	size_t n;

	if (atomic_exchange(&H.sending, 1)) {
		log_debug("health reply: the last one is still being sent");
		return;
	}
	if ((buf = msg_build(MSG_HEALTH_REPLY, H.seq++, payload, len, &n)) == NULL ||
	    nng_msg_alloc(&m, 0) != 0) {
		free(buf);
		atomic_store(&H.sending, 0);
		return;
	}
	if (nng_msg_append(m, buf, n) != 0) {
		nng_msg_free(m);
		free(buf);
		atomic_store(&H.sending, 0);
		return;
	}
	free(buf);
	nng_aio_set_msg(H.aio, m);
	nng_aio_set_timeout(H.aio, 500);
	nng_send_aio(H.sock, H.aio);
}

/* A SIGHUP that changes log_level reaches every worker with the next survey, so changing it
 * restarts nobody (mqttd would drop its broker session for it). */
static void
health_apply_log_level(uint32_t wire)
{
	enum log_level level;

	if (wire == 0 || wire > (uint32_t)LOG_LVL_DEBUG + 1)
		return;
	level = (enum log_level)(wire - 1);
	if (level == log_get_level())
		return;
	/* Said at info, under whichever level lets it through: the old one when going quieter. */
	if (level >= LOG_LVL_INFO) {
		log_set_level(level);
		log_info("log level now %s", log_level_name(level));
	} else {
		log_info("log level now %s", log_level_name(level));
		log_set_level(level);
	}
}

static void
health_survey_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct msg_health_survey copy, *survey = &copy;
	struct strbuf facts = STRBUF_INIT;
	struct msg_health_reply *reply;
	uint64_t now = util_mono_ms();
	size_t n;

	(void)ctx;
	if (hdr->type != MSG_HEALTH_SURVEY) {
		log_warnx("unexpected %s on the health socket", msg_type_name(hdr->type));
		return;
	}
	memcpy(&copy, payload, sizeof(copy)); /* a bus payload is not 8-byte aligned */
	health_apply_log_level(survey->log_level);
	/* Read late (this process was stopped, or its loop stalled): the supervisor no longer
	 * waits for it, and a reply racing the close of a connection that the supervisor gave up
	 * on can be lost inside nng 1.5.2 with its message. */
	if (survey->expires_ms != 0 && now > survey->expires_ms) {
		log_debug("health check %u expired %llu ms ago; not answering it", survey->round,
			  (unsigned long long)(now - survey->expires_ms));
		return;
	}
	facts.max = MSG_HEALTH_FACTS_MAX;
	if (H.facts != NULL)
		H.facts(H.ctx, &facts);
	if (facts.failed || facts.s == NULL) {
		strbuf_free(&facts);
		strbuf_puts(&facts, "{}");
	}
	n = sizeof(*reply) + facts.len;
	if ((reply = calloc(1, n)) == NULL) {
		strbuf_free(&facts);
		return;
	}
	msg_strlcpy(reply->worker, H.name, sizeof(reply->worker));
	reply->pid = (int32_t)getpid();
	reply->round = survey->round;
	reply->uptime_ms = util_mono_ms() - H.started_ms;
	reply->facts_len = (uint32_t)facts.len;
	memcpy(reply->facts, facts.s, facts.len);
	health_send(reply, n);
	free(reply);
	strbuf_free(&facts);
}

void
health_stop(void)
{
	if (!H.running)
		return;
	H.running = 0;
	bus_reader_close(&H.reader);
	/* A reply still queued (its pipe busy or gone) is cancelled, so its message is freed by
	 * health_sent_cb rather than left with the aio at exit. */
	if (H.aio != NULL)
		nng_aio_stop(H.aio);
	uv_close((uv_handle_t *)&H.sigterm, NULL);
	uv_close((uv_handle_t *)&H.sigint, NULL);
	uv_close((uv_handle_t *)&H.links, NULL);
	/* The nng socket stays until exit (or nng_fini): the poll on its fd is only closing. */
}

void
health_finish(uv_loop_t *loop)
{
	health_stop();
	uv_run(loop, UV_RUN_DEFAULT);
}

/* Every worker's dialled bus sockets get a fresh dialer when theirs gave up (bus.h). */
static void
health_links_cb(uv_timer_t *t)
{
	(void)t;
	bus_links_check(util_mono_ms());
}

static void
health_signal_cb(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	health_stop();
}

int
health_start(uv_loop_t *loop, const char *rundir, const char *name, health_facts_fn facts,
	     void *ctx)
{
	int rv;

	if (H.running)
		return 0;
	H.loop = loop;
	H.facts = facts;
	H.ctx = ctx;
	H.started_ms = util_mono_ms();
	msg_strlcpy(H.name, name, sizeof(H.name));
	if ((rv = bus_dial(&H.sock, nng_respondent0_open, rundir, HEALTH_SOCKET, HEALTH_SUFFIX)) !=
	    0) {
		log_warnx("health socket in %s: %s", rundir, nng_strerror(rv));
		return -1;
	}
	if ((rv = nng_aio_alloc(&H.aio, health_sent_cb, NULL)) != 0) {
		log_warnx("health: %s", nng_strerror(rv));
		bus_link_forget(H.sock);
		nng_close(H.sock);
		return -1;
	}
	if (bus_reader_start(&H.reader, loop, H.sock, "health", health_survey_cb, NULL) < 0) {
		bus_link_forget(H.sock);
		nng_close(H.sock);
		return -1;
	}
	uv_signal_init(loop, &H.sigterm);
	uv_signal_init(loop, &H.sigint);
	uv_signal_start(&H.sigterm, health_signal_cb, SIGTERM);
	uv_signal_start(&H.sigint, health_signal_cb, SIGINT);
	uv_timer_init(loop, &H.links);
	uv_timer_start(&H.links, health_links_cb, 1000, 1000);
	/* Answering surveys is no reason to keep running: the worker's own handles decide. */
	uv_unref((uv_handle_t *)&H.reader.poll);
	uv_unref((uv_handle_t *)&H.sigterm);
	uv_unref((uv_handle_t *)&H.sigint);
	uv_unref((uv_handle_t *)&H.links);
	H.running = 1;
	return 0;
}
