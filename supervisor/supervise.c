/* supervise.c -- the worker table: spawn with uv_spawn, restart by policy, stop on signal. */
#include "supervise.h"
#include "log.h"
#include "policy.h"
#include "util.h"
#include "worker.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#ifndef SB_LIBEXECDIR
#define SB_LIBEXECDIR "/usr/libexec/sonos-bridge"
#endif

#define STOP_GRACE_MS 5000

enum worker_state { W_STOPPED, W_RUNNING, W_BACKING_OFF, W_FAILED };

struct worker {
	const char *name;
	char path[PATH_MAX];
	enum worker_state state;
	uv_process_t proc;
	int proc_open;          /* proc handle initialised and not yet closed */
	uv_timer_t restart_timer;
	uint64_t started_ms;    /* monotonic */
	uint64_t last_delay_ms;
	unsigned restarts;
	struct restart_history history;
};

static struct worker workers[] = {
	{.name = "mqttd"}, {.name = "discoveryd"}, {.name = "playerd"}, {.name = "httpd"},
};
#define NWORKERS (sizeof(workers) / sizeof(workers[0]))

static struct {
	uv_loop_t *loop;
	uv_signal_t sigterm, sigint;
	uv_timer_t grace_timer;
	struct restart_policy policy;
	char **argv;            /* argv for workers: path slot, flags..., NULL */
	int nargs;
	int stopping;
	int exit_status;
} sup;

static void worker_spawn(struct worker *w);
static void supervise_stop(int status);

/* Workers live next to the sonos-bridge executable (build tree, bare install into one bin
 * directory), else in the libexec directory chosen at build time. */
static void
worker_find_path(struct worker *w)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(w->path, sizeof(w->path), "%s/sonos-bridge-%s", self, w->name);
			if (access(w->path, X_OK) == 0)
				return;
		}
	}
	snprintf(w->path, sizeof(w->path), "%s/sonos-bridge-%s", SB_LIBEXECDIR, w->name);
}

static int
all_stopped(void)
{
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].state == W_RUNNING)
			return 0;
	return 1;
}

static void
close_all_handles(void)
{
	uv_close((uv_handle_t *)&sup.sigterm, NULL);
	uv_close((uv_handle_t *)&sup.sigint, NULL);
	uv_close((uv_handle_t *)&sup.grace_timer, NULL);
	for (size_t i = 0; i < NWORKERS; i++)
		uv_close((uv_handle_t *)&workers[i].restart_timer, NULL);
}

static void
proc_close_cb(uv_handle_t *h)
{
	struct worker *w = h->data;

	w->proc_open = 0;
	if (sup.stopping && all_stopped()) {
		int busy = 0;

		for (size_t i = 0; i < NWORKERS; i++)
			busy |= workers[i].proc_open;
		if (!busy)
			close_all_handles();
	}
}

static void
restart_timer_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	if (!sup.stopping)
		worker_spawn(w);
}

/* A worker exited: decide, by its status and the policy, what happens next. */
static void
worker_exit_cb(uv_process_t *p, int64_t status, int signo)
{
	struct worker *w = p->data;
	uint64_t now = util_mono_ms(), uptime = now - w->started_ms;

	w->state = W_STOPPED;
	uv_close((uv_handle_t *)p, proc_close_cb);
	if (sup.stopping && (signo == SIGTERM || (signo == 0 && status == 0)))
		log_info("%s (pid %d) stopped", w->name, p->pid);
	else if (signo != 0)
		log_warnx("%s (pid %d) killed by signal %d (%s) after %llu ms", w->name, p->pid,
			  signo, strsignal(signo), (unsigned long long)uptime);
	else
		log_warnx("%s (pid %d) exited with status %lld after %llu ms", w->name, p->pid,
			  (long long)status, (unsigned long long)uptime);
	if (sup.stopping)
		return;
	if (signo == 0 && status == EXIT_CONFIG) {
		log_errorx("%s reports a bad configuration; stopping the bridge", w->name);
		w->state = W_FAILED;
		supervise_stop(EXIT_CONFIG);
		return;
	}
	if (restart_record(&sup.policy, &w->history, now)) {
		log_errorx("%s restarted more than %u times in %llu s; giving up so the service "
			   "manager can restart the whole bridge",
			   w->name, sup.policy.intensity,
			   (unsigned long long)(sup.policy.period_ms / 1000));
		w->state = W_FAILED;
		supervise_stop(EXIT_GAVE_UP);
		return;
	}
	w->last_delay_ms = restart_delay(&sup.policy, uptime, w->last_delay_ms);
	w->restarts++;
	w->state = W_BACKING_OFF;
	log_info("restarting %s in %llu ms (restart %u)", w->name,
		 (unsigned long long)w->last_delay_ms, w->restarts);
	uv_timer_start(&w->restart_timer, restart_timer_cb, w->last_delay_ms, 0);
}

static void
worker_spawn(struct worker *w)
{
	uv_process_options_t opt;
	uv_stdio_container_t stdio[3];
	int rv;

	memset(&opt, 0, sizeof(opt));
	sup.argv[0] = w->path;
	for (int i = 0; i < 3; i++) {
		stdio[i].flags = i == 0 ? UV_IGNORE : UV_INHERIT_FD;
		stdio[i].data.fd = i;
	}
	opt.file = w->path;
	opt.args = sup.argv;
	opt.exit_cb = worker_exit_cb;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	w->proc.data = w;
	w->started_ms = util_mono_ms();
	if ((rv = uv_spawn(sup.loop, &w->proc, &opt)) != 0) {
		/* uv_spawn initialises the handle even when it fails; it must still be closed. */
		log_warnx("%s: cannot start %s: %s", w->name, w->path, uv_strerror(rv));
		w->proc_open = 1;
		uv_close((uv_handle_t *)&w->proc, proc_close_cb);
		if (rv == UV_ENOENT || rv == UV_EACCES) {
			supervise_stop(EXIT_CONFIG);
			return;
		}
		w->state = W_BACKING_OFF;
		uv_timer_start(&w->restart_timer, restart_timer_cb, sup.policy.min_delay_ms, 0);
		return;
	}
	w->proc_open = 1;
	w->state = W_RUNNING;
	log_info("started %s (pid %d)", w->name, w->proc.pid);
}

static void
grace_timer_cb(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < NWORKERS; i++)
		if (workers[i].state == W_RUNNING) {
			log_warnx("%s did not stop within %d ms; killing it", workers[i].name,
				  STOP_GRACE_MS);
			uv_process_kill(&workers[i].proc, SIGKILL);
		}
}

static void
supervise_stop(int status)
{
	if (sup.stopping)
		return;
	sup.stopping = 1;
	sup.exit_status = status;
	for (size_t i = 0; i < NWORKERS; i++) {
		uv_timer_stop(&workers[i].restart_timer);
		if (workers[i].state == W_RUNNING)
			uv_process_kill(&workers[i].proc, SIGTERM);
	}
	uv_signal_stop(&sup.sigterm);
	uv_signal_stop(&sup.sigint);
	if (all_stopped()) {
		int busy = 0;

		for (size_t i = 0; i < NWORKERS; i++)
			busy |= workers[i].proc_open;
		if (!busy)
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
	supervise_stop(0);
}

int
supervise(const char *rundir, int nargs, char **args)
{
	char pidbuf[32];

	(void)rundir;
	sup.loop = uv_default_loop();
	restart_policy_defaults(&sup.policy);
	if ((sup.argv = calloc((size_t)nargs + 2, sizeof(char *))) == NULL)
		fatal("calloc");
	for (int i = 0; i < nargs; i++)
		sup.argv[i + 1] = args[i];
	sup.nargs = nargs;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	setenv(WORKER_SUPERVISOR_ENV, pidbuf, 1);

	uv_signal_init(sup.loop, &sup.sigterm);
	uv_signal_init(sup.loop, &sup.sigint);
	uv_signal_start(&sup.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sup.sigint, signal_cb, SIGINT);
	uv_timer_init(sup.loop, &sup.grace_timer);
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];

		worker_find_path(w);
		uv_timer_init(sup.loop, &w->restart_timer);
		w->restart_timer.data = w;
	}
	for (size_t i = 0; i < NWORKERS && !sup.stopping; i++)
		worker_spawn(&workers[i]);

	uv_run(sup.loop, UV_RUN_DEFAULT);
	uv_loop_close(sup.loop);
	free(sup.argv);
	log_info("stopped (status %d)", sup.exit_status);
	return sup.exit_status;
}
