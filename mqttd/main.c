/* main.c -- sonos-bridge-mqttd: the only holder of the broker session. Parse, set up, run. */
#include "bridge.h"
#include "clientid.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#include <nng/nng.h>
#include <stdlib.h>
#include <uv.h>

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct bridge bridge;
	char err[256], client_id[CLIENTID_MAX];
	uv_loop_t loop;
	int created, rv;

	/* Config (EXIT_CONFIG on error), log_init("mqttd"), SIGPIPE ignored, dies with the
	 * supervisor: an orphan would hold the client id and fight the next start. */
	worker_setup("mqttd", argc, argv, &cfg);
	if (clientid_load(cfg.state_dir, client_id, sizeof(client_id), &created, err,
			  sizeof(err)) < 0)
		fatal_config("client id: %s", err);
	log_info("client id %s%s", client_id, created ? " (new)" : "");
	/* The supervisor makes the runtime directory; a worker started by hand makes its own. */
	if (util_mkdir_p(cfg.runtime_dir, 0700) < 0)
		fatal("%s", cfg.runtime_dir);

	if ((rv = uv_loop_init(&loop)) != 0)
		fatalx("uv_loop_init: %s", uv_strerror(rv));
	if (bridge_start(&bridge, &loop, &cfg, client_id) < 0)
		exit(EXIT_TEMPORARY);
	uv_run(&loop, UV_RUN_DEFAULT);
	bridge_cleanup(&bridge);
	if (uv_loop_close(&loop) != 0)
		log_warnx("loop closed with handles left");
	nng_fini(); /* stops nng's threads, so leak checkers see a clean exit */
	log_info("stopped");
	return 0;
}
