/* main.c -- sonos-bridge-mqttd: the only holder of the broker session. Parse, set up, run. */
#include "bridge.h"
#include "clientid.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "mqtt.h"
#include "util.h"
#include "worker.h"

#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

/* Health facts for the supervisor (health_facts_fn): the session, then the spool's. */
static void
mqttd_health_facts(void *ctx, struct strbuf *out)
{
	struct bridge *b = ctx;
	char broker[CONFIG_STR_MAX + 8];
	struct mqtt_status st;

	mqtt_get_status(b->mqtt, &st);
	snprintf(broker, sizeof(broker), "%s:%d", b->cfg->broker_host, b->cfg->broker_port);
	strbuf_printf(out, "{\"broker_connected\":%s,\"broker\":", st.connected ? "true" : "false");
	health_json_string(out, broker);
	strbuf_puts(out, ",\"client_id\":");
	health_json_string(out, b->client_id);
	strbuf_printf(out, ",\"connections\":%u,\"reconnects\":%u,\"last_failure\":", st.connects,
		      st.connects > 0 ? st.connects - 1 : 0);
	health_json_string(out, st.last_failure);
	strbuf_printf(out, ",\"speakers_known\":%zu", b->table_count);
	bridge_facts(b, out);
	strbuf_puts(out, "}");
}

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
	/* Connecting or retrying with backoff: ready (a broker that is down is not our failure). */
	health_start(&loop, cfg.runtime_dir, "mqttd", mqttd_health_facts, &bridge);
	health_ready();
	uv_run(&loop, UV_RUN_DEFAULT);
	health_finish(&loop);
	bridge_cleanup(&bridge);
	if (uv_loop_close(&loop) != 0)
		log_warnx("loop closed with handles left");
	nng_fini(); /* stops nng's threads, so leak checkers see a clean exit */
	log_info("stopped");
	return 0;
}
