/* main.c -- sonos-bridge: the one command a user runs. `run` (the default) supervises the four
 * workers; `status` and `healthcheck` ask a running bridge. */
#include "cli.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "supervise.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

enum verb { VERB_RUN, VERB_STATUS, VERB_HEALTHCHECK };

static void
usage(FILE *f, enum verb verb)
{
	switch (verb) {
	case VERB_STATUS:
		fprintf(f, "usage: sonos-bridge status [--json] [--config FILE] [--KEY VALUE ...]\n"
			   "\n"
			   "Shows the running bridge's workers (state, pid, uptime, restarts, last\n"
			   "exit, last health reply) and the speakers it knows. --json prints the\n"
			   "status document as the bridge sends it. Reads the same configuration as\n"
			   "the bridge, to find its runtime directory. Exit status 0, or 1 when the\n"
			   "bridge does not answer.\n");
		return;
	case VERB_HEALTHCHECK:
		fprintf(f, "usage: sonos-bridge healthcheck [--config FILE] [--KEY VALUE ...]\n"
			   "\n"
			   "Exit status 0 when every worker is ready and mqttd is connected to the\n"
			   "broker, else 1; prints one line saying why. Meant for Docker's\n"
			   "HEALTHCHECK and for scripts.\n");
		return;
	case VERB_RUN:
		break;
	}
	fprintf(f, "usage: sonos-bridge [run] [--config FILE] [--KEY VALUE ...]\n"
		   "       sonos-bridge status [--json] [--config FILE] [--KEY VALUE ...]\n"
		   "       sonos-bridge healthcheck [--config FILE] [--KEY VALUE ...]\n"
		   "       sonos-bridge [VERB] --version | --help\n"
		   "\n"
		   "Bridges MQTT and Sonos speakers: announcements (TTS, clips) with restore,\n"
		   "control and state. Reads " CONFIG_DEFAULT_FILE " when it exists; every key can\n"
		   "also be set as SONOS_BRIDGE_<KEY> in the environment or as a flag:\n\n");
	config_print_keys();
	fprintf(f, "\nExit status of run: 0 after SIGTERM/SIGINT, 3 when a worker keeps dying,\n"
		   "75 when another bridge uses the same state or runtime directory, 78 for a\n"
		   "bad configuration.\n");
}

/* Private runtime directory for bus sockets: created 0700, refused if someone else owns it. */
static void
prepare_dirs(const struct config *cfg)
{
	struct stat st;

	if (util_mkdir_p(cfg->runtime_dir, 0700) < 0)
		fatal_config("runtime_dir %s", cfg->runtime_dir);
	if (stat(cfg->runtime_dir, &st) < 0)
		fatal_config("runtime_dir %s", cfg->runtime_dir);
	if (st.st_uid != geteuid())
		fatal_config("runtime_dir %s belongs to uid %u, not to us", cfg->runtime_dir,
			     (unsigned)st.st_uid);
	if (chmod(cfg->runtime_dir, 0700) < 0)
		fatal_config("chmod %s", cfg->runtime_dir);
	if (util_mkdir_p(cfg->state_dir, 0700) < 0)
		fatal_config("state_dir %s", cfg->state_dir);
}

/* One bridge per state directory (client id, spool) and per runtime directory (bus sockets):
 * a second one would fight the first for the broker session and the sockets. */
static void
lock_dirs(const struct config *cfg)
{
	const char *dirs[] = {cfg->state_dir, cfg->runtime_dir};
	const char *what[] = {"state_dir", "runtime_dir"};
	char err[600];
	pid_t holder;
	int rv;

	for (int i = 0; i < 2; i++) {
		if (i == 1 && strcmp(dirs[0], dirs[1]) == 0)
			break;
		rv = dir_lock(dirs[i], &holder, err, sizeof(err));
		if (rv == -EAGAIN) {
			log_errorx("another sonos-bridge (pid %d) is running with %s %s; stop it, or "
				   "give this one its own %s",
				   (int)holder, what[i], dirs[i], what[i]);
			exit(EXIT_LOCKED);
		}
		if (rv < 0)
			fatal_config("%s: %s", what[i], err);
	}
}

int
main(int argc, char **argv)
{
	enum verb verb = VERB_RUN;
	struct config cfg;
	char err[512];
	int first = 1, rest, json = 0, n = 0;
	static char *args[1024];

	log_init("supervisor", LOG_LVL_INFO);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		first = 2;
	else if (argc > 1 && strcmp(argv[1], "status") == 0)
		verb = VERB_STATUS, first = 2;
	else if (argc > 1 && strcmp(argv[1], "healthcheck") == 0)
		verb = VERB_HEALTHCHECK, first = 2;
	/* Verb options out, configuration flags kept (their values may look like anything, so
	 * only a name in flag position counts). */
	if (argc >= (int)(sizeof(args) / sizeof(args[0]))) {
		fprintf(stderr, "sonos-bridge: too many arguments\n");
		return EXIT_CONFIG;
	}
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("sonos-bridge %s\n", SB_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, verb);
			return 0;
		}
		if (verb == VERB_STATUS && strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		args[n++] = argv[i];
		/* A --key without '=' takes the next argument as its value. */
		if (strncmp(argv[i], "--", 2) == 0 && strchr(argv[i], '=') == NULL && i + 1 < argc)
			args[n++] = argv[++i];
	}
	if (config_load(&cfg, n, args, environ, &rest, err, sizeof(err)) < 0) {
		if (verb == VERB_HEALTHCHECK) {
			printf("unhealthy: configuration: %s\n", err);
			return 1;
		}
		log_errorx("configuration: %s", err);
		return EXIT_CONFIG;
	}
	if (rest != n) {
		fprintf(stderr, "sonos-bridge: unexpected argument '%s' (see --help)\n", args[rest]);
		return verb == VERB_HEALTHCHECK ? 1 : EXIT_CONFIG;
	}
	if (verb == VERB_STATUS)
		return cli_status(&cfg, json);
	if (verb == VERB_HEALTHCHECK)
		return cli_healthcheck(&cfg);

	log_set_level((enum log_level)cfg.log_level);
	prepare_dirs(&cfg);
	lock_dirs(&cfg);
	log_info("sonos-bridge %s starting (config %s, broker %s:%d, runtime %s)", SB_VERSION,
		 cfg.config_file[0] ? cfg.config_file : "none", cfg.broker_host, cfg.broker_port,
		 cfg.runtime_dir);
	return supervise(&cfg, n, args);
}
