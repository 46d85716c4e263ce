/* worker.c -- shared worker start-up: die with the supervisor, config, logging, process name. */
#include "worker.h"
#include "health.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

void
worker_setup(const char *name, int argc, char **argv, struct config *cfg)
{
	const char *sup = getenv(WORKER_SUPERVISOR_ENV);
	char err[512], title[16];

	log_init(name, LOG_LVL_INFO);
	/* A fatal error's reason also goes to the supervisor, which reports it when it gives up. */
	log_set_fatal_hook(health_fatal_hook);
	/* An orphaned worker would hold the broker client id or the bus sockets and fight the
	 * next start, so every worker dies with its supervisor. The getppid check closes the race
	 * where the supervisor died before prctl. */
	if (sup != NULL) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			fatal("prctl(PR_SET_PDEATHSIG)");
		if (getppid() != (pid_t)atol(sup))
			fatalx("supervisor %s is gone", sup);
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(title, sizeof(title), "sb-%s", name);
	prctl(PR_SET_NAME, title);
	if (config_load(cfg, argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv, environ, NULL, err,
			sizeof(err)) < 0)
		fatal_config("configuration: %s", err);
	log_set_level((enum log_level)cfg->log_level);
}
