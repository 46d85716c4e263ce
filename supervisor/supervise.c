/* supervise.c -- the worker table: spawn with a readiness pipe, survey health, restart by
 * policy, report status, stop on signal, re-read the configuration on SIGHUP. */
#include "supervise.h"
#include "bus.h"
#include "health.h"
#include "log.h"
#include "orphans.h"
#include "policy.h"
#include "report.h"
#include "sdnotify.h"
#include "status.h"
#include "util.h"
#include "worker.h"

#include <jansson.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/survey0/survey.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#ifndef SB_LIBEXECDIR
#define SB_LIBEXECDIR "/usr/libexec/sonos-bridge"
#endif

enum worker_state {
	W_STOPPED,     /* not running and not due to run (before the start, while stopping) */
	W_STARTING,    /* running, readiness line not seen yet */
	W_READY,       /* running, ready, answering health surveys */
	W_UNHEALTHY,   /* running, missed health replies (or killed for it, or not ready in time) */
	W_BACKING_OFF, /* exited; restart timer running */
	W_FAILED,      /* exited; will not be restarted */
};

static const char *const state_names[] = {"stopped", "starting", "ready", "unhealthy",
					  "backing-off", "failed"};

struct worker {
	const char *name;
	char path[PATH_MAX];
	enum worker_state state;
	uv_process_t proc;
	int proc_open;          /* proc handle initialised and not yet closed */
	int spawn_pending;      /* start again as soon as the old proc handle is closed */
	int running;            /* the process exists (spawned, exit not yet seen) */
	int pid;                /* current or last process */
	uv_pipe_t *ready;       /* read end of the readiness pipe, NULL when closed; a new
				 * handle per process, freed in its close callback */
	char ready_buf[512];    /* partial line */
	size_t ready_len;
	uv_timer_t timer;       /* ready timeout, kill grace or restart delay, by state */
	uint64_t started_ms;    /* monotonic */
	uint64_t ready_ms;      /* monotonic; 0 until ready */
	uint64_t last_delay_ms;
	unsigned restarts;
	struct restart_history history;
	int killing;            /* SIGTERM sent outside a bridge stop */
	int stop_sent;          /* SIGTERM sent for the bridge stop (mqttd, sent last) */
	int restart_now;        /* after this exit, restart at once (configuration changed) */
	int config_failed;      /* failed on a configuration it refused: started again on SIGHUP */
	unsigned missed;        /* health surveys missed in a row */
	int surveyed;           /* was ready when the last survey went out */
	int replied;            /* answered the last survey */
	json_t *facts;          /* last health reply's facts, NULL if none */
	uint64_t facts_ms;      /* monotonic time of that reply */
	int exits;              /* exits seen */
	int64_t last_status;    /* last exit: status, or -1 when killed by a signal */
	int last_signal;
	uint64_t last_exit_ms;  /* wall clock */
	char reason[400];       /* last reason line from the worker (fatal error) */
	char exit_reason[400];  /* why the last process ended (its reason, or the supervisor's) */
};

/* In the order of the WORKER_* bits of policy.h. */
static struct worker workers[] = {
	{.name = "mqttd"}, {.name = "discoveryd"}, {.name = "playerd"}, {.name = "httpd"},
};
#define NWORKERS (sizeof(workers) / sizeof(workers[0]))

static struct {
	uv_loop_t *loop;
	struct config cfg;
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t grace_timer, health_timer;
	nng_socket surveyor;
	uv_poll_t *survey_poll; /* on the surveyor's receive fd; NULL while closed */
	int surveyor_open;
	atomic_int health_conns; /* workers connected to the health socket (counted by nng) */
	uint32_t round;
	int conns_at_send;        /* health_conns when the last survey left */
	int reopened;             /* the health socket has been reopened (at reopened_round) */
	uint32_t reopened_round;
	unsigned grace;           /* rounds left in which health_judge may forgive misses */
	unsigned reopen_failures; /* health socket reopenings failed in a row */
	unsigned replies_late;    /* answers to an earlier round, since the last survey */
	unsigned replies_stale;   /* answers from a process that is not the worker's current one */
	struct restart_policy policy;
	char **argv;            /* argv for workers: path slot, flags..., NULL */
	int nargs;
	char pinned_runtime[CONFIG_STR_MAX]; /* runtime_dir and state_dir given to every worker */
	char pinned_state[CONFIG_STR_MAX];
	uint64_t started_ms, started_wall_ms;
	int stopping, closed;
	int up_once;          /* every worker has been ready: a bad file no longer stops it */
	unsigned reload_mask; /* workers a SIGHUP restarted, until each is ready or refused it */
	int exit_status;
	char exit_reason[512];
} sup;

static void worker_spawn(struct worker *w);
static void ready_close(struct worker *w);
static void worker_kill(struct worker *w, const char *why);
static void supervise_stop(int status, const char *reason);
static void mqttd_stop_when_alone(void);
static void notify_service(void);
static void health_poll_close(void);

/* Workers live next to the sonos-bridge executable (build tree, bare install into one bin
 * directory), else in ../libexec/sonos-bridge from it (an installed tree wherever it was
 * unpacked: a DESTDIR, an image root), else in the libexec directory chosen at build time. */
static void
worker_find_path(struct worker *w)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(w->path, sizeof(w->path), "%s/sonos-bridge-%s", self, w->name);
			if (access(w->path, X_OK) == 0)
				return;
			snprintf(w->path, sizeof(w->path), "%s/../libexec/sonos-bridge/sonos-bridge-%s",
				 self, w->name);
			if (access(w->path, X_OK) == 0)
				return;
		}
	}
	snprintf(w->path, sizeof(w->path), "%s/sonos-bridge-%s", SB_LIBEXECDIR, w->name);
}

static struct worker *
worker_named(const char *name)
{
	for (size_t i = 0; i < NWORKERS; i++)
		if (strcmp(workers[i].name, name) == 0)
			return &workers[i];
	return NULL;
}

static void
worker_set_state(struct worker *w, enum worker_state s)
{
	if (w->state != s)
		log_debug("%s: %s -> %s", w->name, state_names[w->state], state_names[s]);
	w->state = s;
}

/* The pids the next supervisor must kill if this one dies without stopping them. */
static void
workers_record(void)
{
	struct orphan o[NWORKERS];
	int rv;

	for (size_t i = 0; i < NWORKERS; i++) {
		msg_strlcpy(o[i].name, workers[i].name, sizeof(o[i].name));
		o[i].pid = workers[i].running ? (pid_t)workers[i].pid : 0;
	}
	if ((rv = orphans_record(sup.pinned_runtime, o, NWORKERS)) < 0)
		log_warnx("cannot record the workers' pids in %s: %s", sup.pinned_runtime,
			  strerror(-rv));
}

/* ---- stopping and closing ------------------------------------------------------------ */

static int
any_process_open(void)
{
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].proc_open || workers[i].running)
			return 1;
	return 0;
}

static void
close_if_open(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h))
		uv_close(h, NULL);
}

/* Once every child is reaped: close everything, so the loop ends. */
static void
close_all_handles(void)
{
	if (sup.closed)
		return;
	sup.closed = 1;
	close_if_open((uv_handle_t *)&sup.sigterm);
	close_if_open((uv_handle_t *)&sup.sigint);
	close_if_open((uv_handle_t *)&sup.sighup);
	close_if_open((uv_handle_t *)&sup.grace_timer);
	close_if_open((uv_handle_t *)&sup.health_timer);
	health_poll_close();
	status_close();
	for (size_t i = 0; i < NWORKERS; i++) {
		close_if_open((uv_handle_t *)&workers[i].timer);
		ready_close(&workers[i]);
	}
}

static void
mqttd_stop_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (w->running && !w->stop_sent) {
		w->stop_sent = 1;
		uv_process_kill(&w->proc, SIGTERM);
		uv_process_kill(&w->proc, SIGCONT);
	}
}

/* mqttd stops last, so that what the others say while they stop (an announcement cut short
 * and reported failed by playerd) still reaches the broker; it gets SIGTERM once it is the
 * only worker left, or MQTTD_LAST_MS after the stop began, whichever comes first. */
static void
mqttd_stop_when_alone(void)
{
	struct worker *m = worker_named("mqttd");
	int others = 0;

	if (m == NULL || !m->running || m->stop_sent)
		return;
	for (size_t i = 0; i < NWORKERS; i++)
		if (&workers[i] != m && workers[i].running)
			others = 1;
	if (!others)
		mqttd_stop_cb(&m->timer);
	else if (!uv_is_active((uv_handle_t *)&m->timer))
		uv_timer_start(&m->timer, mqttd_stop_cb, MQTTD_LAST_MS, 0);
}

static void
maybe_finish(void)
{
	if (sup.stopping && !any_process_open())
		close_all_handles();
}

static void
proc_close_cb(uv_handle_t *h)
{
	struct worker *w = h->data;

	w->proc_open = 0;
	if (w->spawn_pending) {
		w->spawn_pending = 0;
		if (!sup.stopping)
			worker_spawn(w);
	}
	maybe_finish();
}

/* ---- readiness pipe ------------------------------------------------------------------ */

/* One line from the worker: empty means ready, anything else is why it is about to exit. */
static void
ready_line(struct worker *w, const char *line)
{
	if (line[0] != '\0') {
		msg_strlcpy(w->reason, line, sizeof(w->reason));
		return;
	}
	if (w->state != W_STARTING || !w->running)
		return;
	w->ready_ms = util_mono_ms();
	uv_timer_stop(&w->timer);
	worker_set_state(w, W_READY);
	w->missed = 0;
	w->surveyed = 0;
	log_info("%s (pid %d) ready after %llu ms", w->name, w->pid,
		 (unsigned long long)(w->ready_ms - w->started_ms));
	if (!sup.up_once) {
		sup.up_once = 1;
		for (size_t i = 0; i < NWORKERS; i++)
			if (workers[i].state != W_READY)
				sup.up_once = 0;
	}
	notify_service();
}

static void
ready_feed(struct worker *w, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			w->ready_buf[w->ready_len] = '\0';
			ready_line(w, w->ready_buf);
			w->ready_len = 0;
		} else if (w->ready_len < sizeof(w->ready_buf) - 1) {
			w->ready_buf[w->ready_len++] = buf[i];
		}
	}
}

static void
ready_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[512];

	(void)h;
	(void)suggested;
	buf->base = space;
	buf->len = sizeof(space);
}

static void
ready_free_cb(uv_handle_t *h)
{
	free(h);
}

static void
ready_close(struct worker *w)
{
	if (w->ready == NULL)
		return;
	uv_close((uv_handle_t *)w->ready, ready_free_cb);
	w->ready = NULL;
}

static void
ready_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct worker *w = s->data;

	if (s != (uv_stream_t *)w->ready)
		return; /* not the current process's pipe (cannot happen: it would be closed) */
	if (n > 0)
		ready_feed(w, buf->base, (size_t)n);
	else if (n < 0)
		ready_close(w);
}

/* The worker has exited: whatever it wrote last may not have been read yet. */
static void
ready_drain(struct worker *w)
{
	uv_os_fd_t fd;
	char buf[512];
	ssize_t n;

	if (w->ready == NULL || uv_fileno((uv_handle_t *)w->ready, &fd) != 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ready_feed(w, buf, (size_t)n);
	ready_close(w);
}

/* ---- exits and restarts -------------------------------------------------------------- */

/* Start a worker that refused the configuration again, with the file as it is now. */
static void
config_retry(struct worker *w, const char *which)
{
	uv_timer_stop(&w->timer);
	w->config_failed = 0;
	log_info("%s: trying the %s configuration", w->name, which);
	worker_spawn(w);
}

/* A worker that refused the configuration, a while later. */
static void
config_retry_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (sup.stopping || w->state != W_FAILED || !w->config_failed)
		return;
	config_retry(w, "current");
}

static void
restart_timer_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (!sup.stopping && w->state == W_BACKING_OFF)
		worker_spawn(w);
}

static void
worker_record_exit(struct worker *w, int64_t status, int signo)
{
	w->exits++;
	w->last_status = signo != 0 ? -1 : status;
	w->last_signal = signo;
	w->last_exit_ms = util_now_ms();
	msg_strlcpy(w->exit_reason, w->reason, sizeof(w->exit_reason));
	w->ready_ms = 0;
	w->missed = 0;
	w->surveyed = w->replied = 0;
	/* Its facts were the dead process's (mqttd "connected"): none until the next one answers,
	 * however long a backing-off restart takes. last_exit says why it went. */
	json_decref(w->facts);
	w->facts = NULL;
}

/* A worker exited: decide, by its status and the policy, what happens next. */
static void
worker_exit_cb(uv_process_t *p, int64_t status, int signo)
{
	struct worker *w = p->data;
	uint64_t now = util_mono_ms(), uptime = now - w->started_ms;
	int killed = w->killing;

	w->running = 0;
	w->killing = 0;
	uv_timer_stop(&w->timer);
	workers_record();
	uv_close((uv_handle_t *)p, proc_close_cb);
	ready_drain(w);
	worker_record_exit(w, status, signo);
	if ((sup.stopping || w->restart_now) && (signo == SIGTERM || (signo == 0 && status == 0)))
		log_info("%s (pid %d) stopped", w->name, w->pid);
	else if (signo != 0)
		log_warnx("%s (pid %d) killed by signal %d (%s) after %llu ms", w->name, w->pid,
			  signo, strsignal(signo), (unsigned long long)uptime);
	else
		log_warnx("%s (pid %d) exited with status %lld after %llu ms%s%s", w->name,
			  w->pid, (long long)status, (unsigned long long)uptime,
			  w->reason[0] ? ": " : "", w->reason);
	if (sup.stopping) {
		if (w->state != W_FAILED)
			worker_set_state(w, W_STOPPED);
		mqttd_stop_when_alone();
		maybe_finish();
		return;
	}
	if (signo == 0 && status == EXIT_CONFIG) {
		char why[512];

		snprintf(why, sizeof(why), "%s reports a bad configuration%s%s", w->name,
			 w->reason[0] ? ": " : "", w->reason);
		worker_set_state(w, W_FAILED);
		if (sup.up_once) {
			/* A running bridge given a bad file (by a SIGHUP, or read by a worker that
			 * restarted): the others keep serving; restarting this one would only
			 * fail again, and giving up would take everything down for a typo. */
			log_errorx("%s; it stays stopped until the configuration is fixed and "
			           "reloaded (SIGHUP), trying again every %d s; the other workers "
			           "go on",
			           why, CONFIG_RETRY_MS / 1000);
			w->config_failed = 1;
			w->restart_now = 0;
			/* A file being rewritten (a new certificate) may be whole again soon. */
			uv_timer_start(&w->timer, config_retry_cb, CONFIG_RETRY_MS, 0);
			notify_service();
			return;
		}
		log_errorx("%s; stopping the bridge (not restarting it)", why);
		supervise_stop(EXIT_CONFIG, why);
		return;
	}
	w->restarts++;
	if (w->restart_now) {
		/* Stopped by us for a new configuration: no penalty, no delay. */
		w->restart_now = 0;
		worker_spawn(w);
		return;
	}
	if (restart_record(&sup.policy, &w->history, now)) {
		char why[512];

		snprintf(why, sizeof(why), "%s restarted more than %u times in %llu s", w->name,
			 sup.policy.intensity, (unsigned long long)(sup.policy.period_ms / 1000));
		log_errorx("%s; giving up so that the service manager restarts the whole bridge",
			   why);
		worker_set_state(w, W_FAILED);
		supervise_stop(EXIT_GAVE_UP, why);
		return;
	}
	w->last_delay_ms = restart_delay(&sup.policy, uptime, w->last_delay_ms);
	if (killed)
		w->last_delay_ms = 0; /* it was hung, not crashing: no reason to wait */
	if (w->last_delay_ms == 0) {
		log_info("restarting %s (restart %u)", w->name, w->restarts);
		worker_spawn(w);
		return;
	}
	worker_set_state(w, W_BACKING_OFF);
	log_info("restarting %s in %llu ms (restart %u)", w->name,
		 (unsigned long long)w->last_delay_ms, w->restarts);
	uv_timer_start(&w->timer, restart_timer_cb, w->last_delay_ms, 0);
}

static void
ready_timeout_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (w->state == W_STARTING && w->running)
		worker_kill(w, "not ready in time");
}

static int
ready_pipe_open(struct worker *w, int *write_fd)
{
	uv_file fds[2];
	int rv;

	if ((rv = uv_pipe(fds, 0, 0)) != 0) {
		log_warnx("%s: readiness pipe: %s", w->name, uv_strerror(rv));
		return -1;
	}
	if ((w->ready = calloc(1, sizeof(*w->ready))) == NULL) {
		log_warnx("%s: readiness pipe: out of memory", w->name);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	uv_pipe_init(sup.loop, w->ready, 0);
	w->ready->data = w;
	if ((rv = uv_pipe_open(w->ready, fds[0])) != 0)
		close(fds[0]);
	if (rv != 0 ||
	    (rv = uv_read_start((uv_stream_t *)w->ready, ready_alloc_cb, ready_read_cb)) != 0) {
		log_warnx("%s: readiness pipe: %s", w->name, uv_strerror(rv));
		ready_close(w);
		close(fds[1]);
		return -1;
	}
	w->ready_len = 0;
	*write_fd = fds[1];
	return 0;
}

static void
worker_spawn(struct worker *w)
{
	uv_process_options_t opt;
	uv_stdio_container_t stdio[4];
	int rv, ready_fd;

	if (w->proc_open) {
		/* The last process's handle is still closing (its callback runs in this loop
		 * iteration): start from there. */
		worker_set_state(w, W_BACKING_OFF);
		w->spawn_pending = 1;
		return;
	}
	ready_close(w);
	if (ready_pipe_open(w, &ready_fd) < 0) {
		worker_set_state(w, W_BACKING_OFF);
		uv_timer_start(&w->timer, restart_timer_cb, sup.policy.min_delay_ms, 0);
		return;
	}
	memset(&opt, 0, sizeof(opt));
	sup.argv[0] = w->path;
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = i == 0 ? UV_IGNORE : UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}
	stdio[HEALTH_READY_FD].flags = UV_INHERIT_FD;
	stdio[HEALTH_READY_FD].data.fd = ready_fd;
	opt.file = w->path;
	opt.args = sup.argv;
	opt.exit_cb = worker_exit_cb;
	opt.stdio = stdio;
	opt.stdio_count = 4;
	w->proc.data = w;
	w->reason[0] = '\0';
	w->started_ms = util_mono_ms();
	rv = uv_spawn(sup.loop, &w->proc, &opt);
	close(ready_fd);
	w->proc_open = 1;
	if (rv != 0) {
		/* uv_spawn initialises the handle even when it fails; it must still be closed. */
		log_warnx("%s: cannot start %s: %s", w->name, w->path, uv_strerror(rv));
		uv_close((uv_handle_t *)&w->proc, proc_close_cb);
		ready_close(w);
		if (rv == UV_ENOENT || rv == UV_EACCES) {
			char why[PATH_MAX + 64];

			snprintf(why, sizeof(why), "cannot start %s: %s", w->path, uv_strerror(rv));
			worker_set_state(w, W_FAILED);
			supervise_stop(EXIT_CONFIG, why);
			return;
		}
		worker_set_state(w, W_BACKING_OFF);
		uv_timer_start(&w->timer, restart_timer_cb, sup.policy.min_delay_ms, 0);
		return;
	}
	w->running = 1;
	w->pid = w->proc.pid;
	worker_set_state(w, W_STARTING);
	workers_record();
	uv_timer_start(&w->timer, ready_timeout_cb, READY_TIMEOUT_MS, 0);
	log_info("started %s (pid %d)", w->name, w->pid);
}

static void
kill_grace_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (w->running) {
		log_warnx("%s (pid %d) did not stop within %d ms; sending SIGKILL", w->name, w->pid,
			  KILL_GRACE_MS);
		uv_process_kill(&w->proc, SIGKILL);
	}
}

/* SIGTERM now (with SIGCONT, so a stopped process can act on it), SIGKILL after a grace. */
static void
worker_kill(struct worker *w, const char *why)
{
	if (!w->running || w->killing)
		return;
	if (w->restart_now) {
		log_info("%s (pid %d): %s; restarting it", w->name, w->pid, why);
	} else {
		log_warnx("%s (pid %d): %s; stopping it", w->name, w->pid, why);
		worker_set_state(w, W_UNHEALTHY);
		/* Its exit status will be 0 (it stops on SIGTERM): say why it was stopped. */
		snprintf(w->reason, sizeof(w->reason), "stopped by the supervisor: %s", why);
	}
	w->killing = 1;
	uv_process_kill(&w->proc, SIGTERM);
	uv_process_kill(&w->proc, SIGCONT);
	uv_timer_start(&w->timer, kill_grace_cb, KILL_GRACE_MS, 0);
}

/* ---- health surveys ------------------------------------------------------------------ */

static void
health_reply(const void *payload)
{
	struct msg_health_reply reply, *r = &reply;
	const char *text = (const char *)payload + offsetof(struct msg_health_reply, facts);
	struct worker *w;
	json_error_t jerr;
	json_t *facts;

	/* A bus payload follows a 16-byte header in a buffer of nng's: not 8-byte aligned. */
	memcpy(&reply, payload, sizeof(reply));
	w = worker_named(r->worker);
	if (w == NULL || !w->running || r->pid != w->pid) {
		log_debug("stale health reply from %s pid %d", r->worker, r->pid);
		sup.replies_stale++;
		return;
	}
	facts = json_loadb(text, r->facts_len, JSON_REJECT_DUPLICATES, &jerr);
	if (facts == NULL || !json_is_object(facts)) {
		log_warnx("%s: health facts are not a JSON object: %s", w->name,
			  facts == NULL ? jerr.text : "not an object");
		json_decref(facts);
		facts = json_object();
	}
	json_decref(w->facts);
	w->facts = facts;
	w->facts_ms = util_mono_ms();
	if (r->round == sup.round)
		w->replied = 1;
	else
		sup.replies_late++;
}

static void
survey_poll_cb(uv_poll_t *p, int status, int events)
{
	const struct msg_hdr *hdr;
	const void *payload;
	char err[160];
	nng_msg *m;

	(void)p;
	(void)events;
	if (status < 0)
		return;
	/* Errors end the drain: EAGAIN, or ESTATE/ETIMEDOUT once the survey has expired. */
	while (nng_recvmsg(sup.surveyor, &m, NNG_FLAG_NONBLOCK) == 0) {
		if (msg_check(nng_msg_body(m), nng_msg_len(m), &hdr, &payload, err, sizeof(err)) <
		    0)
			log_warnx("health: dropped a reply: %s", err);
		else if (hdr->type != MSG_HEALTH_REPLY)
			log_warnx("health: unexpected %s", msg_type_name(hdr->type));
		else
			health_reply(payload);
		nng_msg_free(m);
	}
}

/* Runs on nng's threads: counts from ADD_PRE, as nng sends REM_POST for every pipe that had
 * ADD_PRE (bus.c). Only a figure for the logs, the status document and health_judge. */
static void
health_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	atomic_fetch_add(&sup.health_conns, ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1);
}

/* The surveyor, watched before bus_listen starts its listener, so no pipe goes uncounted. */
static int
health_surveyor_open(nng_socket *s)
{
	int rv;

	if ((rv = nng_surveyor0_open(s)) != 0)
		return rv;
	nng_pipe_notify(*s, NNG_PIPE_EV_ADD_PRE, health_pipe_cb, NULL);
	nng_pipe_notify(*s, NNG_PIPE_EV_REM_POST, health_pipe_cb, NULL);
	nng_socket_set_ms(*s, NNG_OPT_SURVEYOR_SURVEYTIME, HEALTH_SURVEY_MS);
	return 0;
}

static void
health_poll_free_cb(uv_handle_t *h)
{
	free(h);
}

/* Closing the handle takes its fd out of the loop's epoll set at once, so the nng socket
 * (which owns the fd) may close right after. */
static void
health_poll_close(void)
{
	if (sup.survey_poll == NULL)
		return;
	uv_close((uv_handle_t *)sup.survey_poll, health_poll_free_cb);
	sup.survey_poll = NULL;
}

static void
health_close(void)
{
	health_poll_close();
	if (!sup.surveyor_open)
		return;
	/* Its pipes are counted out by nobody: they go as the socket closes. */
	nng_pipe_notify(sup.surveyor, NNG_PIPE_EV_ADD_PRE, NULL, NULL);
	nng_pipe_notify(sup.surveyor, NNG_PIPE_EV_REM_POST, NULL, NULL);
	nng_close(sup.surveyor);
	sup.surveyor_open = 0;
	atomic_store(&sup.health_conns, 0);
}

/* Listen on supervisor.health; returns 0, or -1 with nothing left open and the reason in
 * err. */
static int
health_open(char *err, size_t errlen)
{
	int rv, fd;

	if ((rv = bus_listen(&sup.surveyor, health_surveyor_open, sup.cfg.runtime_dir,
			     HEALTH_SOCKET, HEALTH_SUFFIX)) != 0) {
		snprintf(err, errlen, "health socket in %s: %s", sup.cfg.runtime_dir,
			 nng_strerror(rv));
		return -1;
	}
	sup.surveyor_open = 1;
	if ((rv = nng_socket_get_int(sup.surveyor, NNG_OPT_RECVFD, &fd)) != 0) {
		snprintf(err, errlen, "health socket: %s", nng_strerror(rv));
		health_close();
		return -1;
	}
	if ((sup.survey_poll = calloc(1, sizeof(*sup.survey_poll))) == NULL ||
	    (rv = uv_poll_init(sup.loop, sup.survey_poll, fd)) != 0) {
		snprintf(err, errlen, "health socket: %s",
			 sup.survey_poll == NULL ? "out of memory" : uv_strerror(rv));
		free(sup.survey_poll);
		sup.survey_poll = NULL;
		health_close();
		return -1;
	}
	uv_poll_start(sup.survey_poll, UV_READABLE, survey_poll_cb);
	return 0;
}

/* health_judge's view of the round just over. */
static void
health_round_facts(struct health_round *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < NWORKERS; i++) {
		const struct worker *w = &workers[i];

		if (!w->running || w->killing || !w->surveyed ||
		    (w->state != W_READY && w->state != W_UNHEALTHY))
			continue;
		r->surveyed++;
		if (!w->replied) {
			r->missed++;
			r->missed_again += w->missed > 0;
		}
	}
	r->conns_at_send = sup.conns_at_send;
	r->since_reopen = sup.reopened ? sup.round - sup.reopened_round : UINT32_MAX;
	r->grace = sup.grace;
}

/* Close and listen again; a socket that cannot be had again is tried at every round, and
 * after HEALTH_REOPEN_FAIL_ROUNDS the bridge stops (it cannot watch its workers). */
static void
health_reopen(const struct health_round *r)
{
	char err[256];

	if (sup.surveyor_open)
		log_warnx("health check %u: %u of %u workers answered, %d connected to the health "
			  "socket (%u late and %u stale answers): reopening the health socket",
			  sup.round, r->surveyed - r->missed, r->surveyed, r->conns_at_send,
			  sup.replies_late, sup.replies_stale);
	health_close();
	sup.reopened = 1;
	sup.reopened_round = sup.round;
	sup.grace = HEALTH_REOPEN_GRACE;
	if (health_open(err, sizeof(err)) == 0) {
		if (sup.reopen_failures > 0)
			log_info("health socket open again after %u tries", sup.reopen_failures);
		sup.reopen_failures = 0;
		return;
	}
	if (sup.reopen_failures++ == 0)
		log_errorx("%s; trying again every second", err);
	if (sup.reopen_failures >= HEALTH_REOPEN_FAIL_ROUNDS)
		supervise_stop(EXIT_TEMPORARY, err);
}

/* Judge the replies to the last survey, then send the next one. */
static void
health_timer_cb(uv_timer_t *t)
{
	struct msg_health_survey survey = {0};
	struct health_round r;
	enum health_verdict verdict;
	int rv;

	(void)t;
	health_round_facts(&r);
	verdict = sup.surveyor_open ? health_judge(&r) : HEALTH_REOPEN;
	if (sup.grace > 0 && r.surveyed > 0)
		sup.grace--;
	if (verdict == HEALTH_REOPEN)
		health_reopen(&r);
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];
		int watched = w->running && !w->killing &&
			      (w->state == W_READY || w->state == W_UNHEALTHY);

		if (watched && w->surveyed) {
			if (w->replied) {
				if (w->state == W_UNHEALTHY)
					log_info("%s (pid %d) answers health checks again after "
						 "%u missed",
						 w->name, w->pid, w->missed);
				w->missed = 0;
				worker_set_state(w, W_READY);
			} else if (verdict != HEALTH_COUNT) {
				/* forgiven: neither counted nor cleared */
			} else if (++w->missed >= HEALTH_MISSES) {
				char why[96];

				snprintf(why, sizeof(why), "missed %u health checks in a row",
					 w->missed);
				worker_kill(w, why);
				watched = 0;
			} else {
				if (w->state == W_READY)
					log_warnx("%s (pid %d) missed a health check (%d connected "
						  "to the health socket)",
						  w->name, w->pid, r.conns_at_send);
				worker_set_state(w, W_UNHEALTHY);
			}
		}
		/* Just reopened: the workers are still dialling it, so this round asks nobody. */
		w->surveyed = watched && verdict != HEALTH_REOPEN;
		w->replied = 0;
	}
	sup.replies_late = sup.replies_stale = 0;
	if (verdict == HEALTH_REOPEN || sup.stopping || !sup.surveyor_open)
		goto out;
	survey.round = ++sup.round;
	survey.log_level = (uint32_t)sup.cfg.log_level + 1;
	survey.expires_ms = util_mono_ms() + HEALTH_SURVEY_MS;
	sup.conns_at_send = atomic_load(&sup.health_conns);
	if ((rv = bus_send(sup.surveyor, MSG_HEALTH_SURVEY, &survey, sizeof(survey))) != 0)
		log_debug("health survey: %s", nng_strerror(rv));
out:
	notify_service();
}

/* ---- status -------------------------------------------------------------------------- */

static const char *
signal_name(int signo)
{
	static const struct {
		int signo;
		const char *name;
	} names[] = {{SIGHUP, "HUP"},   {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
		     {SIGABRT, "ABRT"}, {SIGBUS, "BUS"},   {SIGFPE, "FPE"},   {SIGKILL, "KILL"},
		     {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"}, {SIGPIPE, "PIPE"},
		     {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGXCPU, "XCPU"}, {SIGSYS, "SYS"}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].signo == signo)
			return names[i].name;
	return "other";
}

static json_t *
worker_json(const struct worker *w, uint64_t now)
{
	json_t *o = json_object(), *exit = json_null();

	json_object_set_new(o, "state", json_string(state_names[w->state]));
	json_object_set_new(o, "pid", w->running ? json_integer(w->pid) : json_null());
	json_object_set_new(o, "uptime_ms",
			    w->running ? json_integer((json_int_t)(now - w->started_ms))
				       : json_null());
	json_object_set_new(o, "ready_ms", w->ready_ms ? json_integer((json_int_t)(
							    w->ready_ms - w->started_ms))
						      : json_null());
	json_object_set_new(o, "restarts", json_integer(w->restarts));
	if (w->exits > 0) {
		exit = json_object();
		if (w->last_signal != 0) {
			json_object_set_new(exit, "signal", json_integer(w->last_signal));
			json_object_set_new(exit, "signal_name",
					    json_string(signal_name(w->last_signal)));
		} else {
			json_object_set_new(exit, "status", json_integer(w->last_status));
		}
		json_object_set_new(exit, "at_ms", json_integer((json_int_t)w->last_exit_ms));
		if (w->exit_reason[0] != '\0')
			json_object_set_new(exit, "reason", json_string(w->exit_reason));
	}
	json_object_set_new(o, "last_exit", exit);
	json_object_set_new(o, "missed_health_checks", json_integer(w->missed));
	json_object_set_new(o, "health", w->facts ? json_incref(w->facts) : json_null());
	json_object_set_new(o, "health_age_ms",
			    w->facts ? json_integer((json_int_t)(now - w->facts_ms)) : json_null());
	return o;
}

/* The status document: bridge version and uptime, every worker, how the bridge is set up. */
static char *
status_json(void)
{
	uint64_t now = util_mono_ms();
	json_t *root = json_object(), *ws = json_object();
	char *text;

	json_object_set_new(root, "version", json_string(SB_VERSION));
	json_object_set_new(root, "pid", json_integer(getpid()));
	json_object_set_new(root, "uptime_ms", json_integer((json_int_t)(now - sup.started_ms)));
	json_object_set_new(root, "started_at_ms", json_integer((json_int_t)sup.started_wall_ms));
	json_object_set_new(root, "stopping", json_boolean(sup.stopping));
	json_object_set_new(root, "broker", json_pack("{s:s,s:i}", "host", sup.cfg.broker_host,
						       "port", sup.cfg.broker_port));
	json_object_set_new(root, "state_dir", json_string(sup.cfg.state_dir));
	json_object_set_new(root, "runtime_dir", json_string(sup.cfg.runtime_dir));
	json_object_set_new(root, "health_connections",
			    json_integer(atomic_load(&sup.health_conns)));
	for (size_t i = 0; i < NWORKERS; i++)
		json_object_set_new(ws, workers[i].name, worker_json(&workers[i], now));
	json_object_set_new(root, "workers", ws);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

/* Tell the service manager (systemd, sdnotify.c) how we are: READY=1 once every worker is
 * ready, WATCHDOG=1 while they keep being ready, STATUS= with the healthcheck line. */
/* Ready, as the service manager sees it. One a reload restarts is not ready yet. One that
 * refused a reloaded file waits for a fixed one on purpose: that is no reason for the
 * watchdog to restart the bridge (which would then stop at start, exit 78). */
static int
worker_settled(const struct worker *w)
{
	return (w->state == W_READY || w->config_failed) && !w->killing;
}

static void
notify_service(void)
{
	char why[400], line[420];
	int all_ready = !sup.stopping;
	char *doc;

	if (!sdnotify_enabled())
		return;
	for (size_t i = 0; i < NWORKERS; i++)
		if (!worker_settled(&workers[i]))
			all_ready = 0;
	if ((doc = status_json()) == NULL)
		return;
	snprintf(line, sizeof(line), "%s%s",
		 report_verdict(doc, strlen(doc), why, sizeof(why)) == 0 ? "" : "unhealthy: ", why);
	free(doc);
	sdnotify_update(util_mono_ms(), all_ready, line);
	/* The reload is over when the workers it restarted are back, or refused the file; the
	 * others' state is not its business (one backing off after a crash would hold it up). */
	if (sup.reload_mask != 0) {
		int settled = 1;

		for (size_t i = 0; i < NWORKERS; i++)
			if ((sup.reload_mask & (1u << i)) && !worker_settled(&workers[i]))
				settled = 0;
		if (settled) {
			sup.reload_mask = 0;
			sdnotify_reload_done(line);
		}
	}
}

/* ---- signals and stop ---------------------------------------------------------------- */

static void
grace_timer_cb(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].running) {
			log_warnx("%s did not stop within %d ms; killing it", workers[i].name,
				  STOP_GRACE_MS);
			uv_process_kill(&workers[i].proc, SIGKILL);
		}
}

static void
supervise_stop(int status, const char *reason)
{
	if (sup.stopping)
		return;
	sup.stopping = 1;
	sup.exit_status = status;
	msg_strlcpy(sup.exit_reason, reason ? reason : "", sizeof(sup.exit_reason));
	sdnotify_stopping(reason ? reason : "stopping");
	uv_timer_stop(&sup.health_timer);
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];

		uv_timer_stop(&w->timer);
		if (w->running) {
			if (w == worker_named("mqttd"))
				continue; /* last: see mqttd_stop_when_alone */
			uv_process_kill(&w->proc, SIGTERM);
			uv_process_kill(&w->proc, SIGCONT);
		} else if (w->state != W_FAILED) {
			worker_set_state(w, W_STOPPED);
		}
	}
	mqttd_stop_when_alone();
	uv_signal_stop(&sup.sigterm);
	uv_signal_stop(&sup.sigint);
	uv_signal_stop(&sup.sighup);
	if (!any_process_open()) {
		close_all_handles();
		return;
	}
	uv_timer_start(&sup.grace_timer, grace_timer_cb, STOP_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&sup.grace_timer);
}

static void
signal_cb(uv_signal_t *s, int signo)
{
	(void)s;
	log_info("received %s; stopping the workers", strsignal(signo));
	supervise_stop(0, NULL);
}

extern char **environ;

/* SIGHUP: read the configuration again from the same sources; restart the workers whose keys
 * changed, gracefully and without counting it as a failure. A bad file changes nothing. */
static void
supervise_reload(void)
{
	struct config cfg;
	char err[512];
	unsigned mask;

	if (config_load(&cfg, sup.nargs, sup.argv + 1, environ, NULL, err, sizeof(err)) < 0) {
		log_errorx("SIGHUP: configuration not reloaded: %s", err);
		return;
	}
	if (strcmp(cfg.runtime_dir, sup.cfg.runtime_dir) != 0 ||
	    strcmp(cfg.state_dir, sup.cfg.state_dir) != 0)
		log_warnx("SIGHUP: runtime_dir and state_dir change only when the bridge is "
			  "restarted; the workers keep %s and %s", sup.pinned_runtime,
			  sup.pinned_state);
	msg_strlcpy(cfg.runtime_dir, sup.cfg.runtime_dir, sizeof(cfg.runtime_dir));
	msg_strlcpy(cfg.state_dir, sup.cfg.state_dir, sizeof(cfg.state_dir));
	mask = reload_affected(&sup.cfg, &cfg);
	sdnotify_reloading(util_mono_us(), "reloading the configuration");
	sup.cfg = cfg;
	log_set_level((enum log_level)cfg.log_level);
	restart_policy_from_config(&sup.policy, &cfg);
	log_info("SIGHUP: configuration reloaded; %s", mask ? "restarting the workers it concerns"
							 : "no worker concerned");
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];

		if (w->state == W_FAILED && w->config_failed) {
			/* Refused the file before: try the new one, whatever changed. */
			sup.reload_mask |= 1u << i;
			config_retry(w, "reloaded");
			continue;
		}
		if (!(mask & (1u << i)))
			continue;
		sup.reload_mask |= 1u << i;
		if (w->running) {
			w->restart_now = 1;
			worker_kill(w, "configuration changed");
		} else if (w->state == W_BACKING_OFF) {
			uv_timer_stop(&w->timer);
			worker_spawn(w);
		}
	}
	if (sup.reload_mask == 0)
		sdnotify_reload_done(NULL); /* nobody to wait for */
	notify_service(); /* else READY=1 once they are back (or refused the file) */
}

static void
sighup_cb(uv_signal_t *s, int signo)
{
	(void)s;
	(void)signo;
	supervise_reload();
}

int
supervise(const struct config *cfg, int nargs, char **args)
{
	char pidbuf[32], fdbuf[16], err[256];

	sup.loop = uv_default_loop();
	sup.cfg = *cfg;
	sup.started_ms = util_mono_ms();
	sup.started_wall_ms = util_now_ms();
	restart_policy_from_config(&sup.policy, cfg);
	/* path, the user's flags, the pinned directories (4), NULL */
	if ((sup.argv = calloc((size_t)nargs + 6, sizeof(char *))) == NULL)
		fatal("calloc");
	for (int i = 0; i < nargs; i++)
		sup.argv[i + 1] = args[i];
	sup.nargs = nargs;
	/* The directories the supervisor locked and made are the workers' for the bridge's
	 * whole life: a worker restarted after a SIGHUP or a crash must not follow a changed
	 * file elsewhere (its peers and the locks stay here). Flags beat the file. */
	msg_strlcpy(sup.pinned_runtime, cfg->runtime_dir, sizeof(sup.pinned_runtime));
	msg_strlcpy(sup.pinned_state, cfg->state_dir, sizeof(sup.pinned_state));
	sup.argv[nargs + 1] = "--runtime-dir";
	sup.argv[nargs + 2] = sup.pinned_runtime;
	sup.argv[nargs + 3] = "--state-dir";
	sup.argv[nargs + 4] = sup.pinned_state;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	setenv(WORKER_SUPERVISOR_ENV, pidbuf, 1);
	snprintf(fdbuf, sizeof(fdbuf), "%d", HEALTH_READY_FD);
	setenv(HEALTH_READY_ENV, fdbuf, 1);
	sdnotify_init(); /* before the first spawn: the workers must not see NOTIFY_SOCKET */

	uv_signal_init(sup.loop, &sup.sigterm);
	uv_signal_init(sup.loop, &sup.sigint);
	uv_signal_init(sup.loop, &sup.sighup);
	uv_signal_start(&sup.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sup.sigint, signal_cb, SIGINT);
	uv_signal_start(&sup.sighup, sighup_cb, SIGHUP);
	uv_timer_init(sup.loop, &sup.grace_timer);
	uv_timer_init(sup.loop, &sup.health_timer);
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];

		worker_find_path(w);
		uv_timer_init(sup.loop, &w->timer);
		w->timer.data = w;
	}
	/* Workers of a bridge killed while one of them was stopped or hung still hold its
	 * sockets and client id: they go first, before this bridge listens where they would
	 * dial again once woken. */
	orphans_reap(sup.pinned_runtime);
	if (health_open(err, sizeof(err)) < 0)
		supervise_stop(EXIT_TEMPORARY, err);
	else if (status_listen(sup.loop, sup.cfg.runtime_dir, status_json) < 0)
		supervise_stop(EXIT_TEMPORARY, "cannot open the status socket");
	else
		uv_timer_start(&sup.health_timer, health_timer_cb, HEALTH_PERIOD_MS,
			       HEALTH_PERIOD_MS);
	for (size_t i = 0; i < NWORKERS && !sup.stopping; i++)
		worker_spawn(&workers[i]);

	uv_run(sup.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(sup.loop) != 0)
		log_warnx("loop closed with handles left");
	if (sup.surveyor_open)
		nng_close(sup.surveyor);
	for (size_t i = 0; i < NWORKERS; i++)
		json_decref(workers[i].facts);
	free(sup.argv);
	sdnotify_close();
	if (sup.exit_reason[0] != '\0')
		log_errorx("stopped (status %d): %s", sup.exit_status, sup.exit_reason);
	else
		log_info("stopped (status %d)", sup.exit_status);
	return sup.exit_status;
}
