/* main.c -- sonos-bridge: the one command a user runs; supervises the four workers. */
#include "config.h"
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

static void
usage(FILE *f)
{
	fprintf(f, "usage: sonos-bridge [run] [--config FILE] [--KEY VALUE ...]\n"
		   "       sonos-bridge --version | --help\n"
		   "\n"
		   "Bridges MQTT and Sonos speakers: announcements (TTS, clips) with restore,\n"
		   "control and state. Reads " CONFIG_DEFAULT_FILE " when it exists; every key can\n"
		   "also be set as SONOS_BRIDGE_<KEY> in the environment or as a flag:\n\n");
	config_print_keys();
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

int
main(int argc, char **argv)
{
	struct config cfg;
	char err[512];
	int first = 1, rest;

	log_init("supervisor", LOG_LVL_INFO);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		first = 2;
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("sonos-bridge %s\n", SB_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (config_load(&cfg, argc - first, argv + first, environ, &rest, err, sizeof(err)) < 0) {
		log_errorx("configuration: %s", err);
		return EXIT_CONFIG;
	}
	if (first + rest != argc) {
		log_errorx("unexpected argument '%s' (see --help)", argv[first + rest]);
		return EXIT_CONFIG;
	}
	log_set_level((enum log_level)cfg.log_level);
	prepare_dirs(&cfg);
	log_info("sonos-bridge %s starting (config %s, broker %s:%d, runtime %s)", SB_VERSION,
		 cfg.config_file[0] ? cfg.config_file : "none", cfg.broker_host, cfg.broker_port,
		 cfg.runtime_dir);
	return supervise(cfg.runtime_dir, argc - first, argv + first);
}
