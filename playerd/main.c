/* main.c -- sonos-bridge-playerd: turns requests into speaker actions and announcements. */
#include "health.h"
#include "log.h"
#include "player.h"
#include "worker.h"

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

static uv_signal_t sigterm, sigint;

static void
signal_cb(uv_signal_t *s, int signo)
{
	(void)s;
	log_info("received signal %d; stopping", signo);
	player_stop();
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	uv_loop_t *loop;

	worker_setup("playerd", argc, argv, &cfg);
	/* Up to 16 pool threads each get a malloc arena by default: 0.5 MB or more of resident
	 * memory for nothing, since they mostly wait on sockets. */
	mallopt(M_ARENA_MAX, 2);
	/* Announcements block a pool thread each for the clip's length; allow several groups
	 * at once. Must be set before the loop's first uv_queue_work. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	loop = uv_default_loop();
	if (player_start(loop, &cfg) < 0)
		return EXIT_TEMPORARY;
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sigint, signal_cb, SIGINT);
	/* On the bus (inbox bound, peers dialled): ready. */
	health_start(loop, cfg.runtime_dir, "playerd", player_health_facts, NULL);
	health_ready();
	log_info("ready");
	uv_run(loop, UV_RUN_DEFAULT);
	health_finish(loop);
	player_close();
	uv_loop_close(loop);
	return 0;
}
