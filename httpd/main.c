/* main.c -- sonos-bridge-httpd: synthesizes speech into the clip cache on request over the bus
 * and serves the cache to the speakers over HTTP. */
#include "clips.h"
#include "config.h"
#include "gena_route.h"
#include "health.h"
#include "log.h"
#include "server.h"
#include "synth.h"
#include "util.h"
#include "web.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct httpd {
	struct config cfg;
	uv_loop_t *loop;
	struct server *server;
	struct clips clips;
	uv_signal_t sigterm, sigint;
	int stopping;
	/* The cache as last counted for health replies; recounted at most every few seconds. */
	uint64_t cache_counted_ms;
	unsigned long cache_entries;
	unsigned long long cache_bytes;
};

static void
httpd_signal_cb(uv_signal_t *sig, int signum)
{
	struct httpd *h = sig->data;

	log_info("signal %d, stopping", signum);
	h->stopping = 1;
	server_stop(h->server);
	web_stop();
	clips_stop(&h->clips);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
	uv_close((uv_handle_t *)&h->sigint, NULL);
}

/* Hold <runtime_dir>/httpd.lock for the life of the process. A second httpd must stop before
 * bus_listen: nng 1.5.2 probes a socket in use by connecting and closing at once, and that
 * disconnect during negotiation stops the first instance's listener from accepting for good
 * (nng issue #1518, fixed in later releases). */
static void
httpd_lock(const struct config *cfg)
{
	char path[CONFIG_STR_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/httpd.lock", cfg->runtime_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			fatalx("another httpd is running with runtime_dir %s", cfg->runtime_dir);
		fatal("flock %s", path);
	}
	/* fd stays open: the lock goes with the process. */
}

/* Count the finished clips in the cache (temporary files do not end in .wav). */
static void
httpd_count_cache(struct httpd *h)
{
	struct dirent *e;
	struct stat st;
	DIR *d;

	h->cache_counted_ms = util_mono_ms();
	h->cache_entries = 0;
	h->cache_bytes = 0;
	if ((d = opendir(h->cfg.cache_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 5 || strcmp(e->d_name + n - 4, ".wav") != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		h->cache_entries++;
		h->cache_bytes += (unsigned long long)st.st_size;
	}
	closedir(d);
}

/* Health facts for the supervisor (health_facts_fn). */
static void
httpd_health_facts(void *ctx, struct strbuf *out)
{
	struct httpd *h = ctx;

	if (h->stopping) {
		strbuf_puts(out, "{\"stopping\":true}");
		return;
	}
	if (h->cache_counted_ms == 0 || util_mono_ms() - h->cache_counted_ms >= 5000)
		httpd_count_cache(h);
	strbuf_printf(out,
		      "{\"cache_entries\":%lu,\"cache_bytes\":%llu,\"requests_served\":%lu,"
		      "\"port\":%d}",
		      h->cache_entries, h->cache_bytes, server_requests(h->server), h->cfg.http_port);
}

/* Speech synthesis is optional at run time: without it the cache is still served. */
static void
httpd_synth_setup(const struct config *cfg)
{
	char err[160];
	int removed = synth_clean_temp(cfg->cache_dir);

	if (removed > 0)
		log_info("%s: removed %d unfinished clip(s)", cfg->cache_dir, removed);
	if (synth_init(err, sizeof(err)) < 0) {
		log_warnx("%s; clip requests will fail", err);
		return;
	}
	if (!synth_voice_known(cfg->tts_voice))
		fatal_config("tts_voice '%s' is not an espeak-ng voice", cfg->tts_voice);
}

int
main(int argc, char **argv)
{
	static struct httpd h;
	int rv;

	worker_setup("httpd", argc, argv, &h.cfg);
	h.loop = uv_default_loop();
	if (util_mkdir_p(h.cfg.cache_dir, 0700) < 0)
		fatal("%s", h.cfg.cache_dir);
	if (util_mkdir_p(h.cfg.runtime_dir, 0700) < 0)
		fatal("%s", h.cfg.runtime_dir);
	httpd_lock(&h.cfg);
	httpd_synth_setup(&h.cfg);
	web_start(h.loop, &h.cfg); /* the status page, /metrics (web.c) */
	rv = server_start(&h.server, h.loop, h.cfg.http_bind, h.cfg.http_port, h.cfg.cache_dir);
	if (rv == -EINVAL)
		fatal_config("http_bind '%s' is not an IP address", h.cfg.http_bind);
	if (rv < 0)
		fatalx("cannot listen on %s port %d: %s", h.cfg.http_bind, h.cfg.http_port,
		       rv == -ENOMEM ? "out of memory" : uv_strerror(rv));
	if (clips_start(&h.clips, h.loop, &h.cfg) < 0)
		fatalx("cannot serve clip requests on %s/httpd.rep", h.cfg.runtime_dir);
	if (gena_route_start(h.cfg.runtime_dir) != 0)
		log_warnx("speaker events will not reach playerd");
	uv_signal_init(h.loop, &h.sigterm);
	uv_signal_init(h.loop, &h.sigint);
	h.sigterm.data = h.sigint.data = &h;
	uv_signal_start(&h.sigterm, httpd_signal_cb, SIGTERM);
	uv_signal_start(&h.sigint, httpd_signal_cb, SIGINT);
	log_info("serving %s on %s port %d, voice %s", h.cfg.cache_dir, h.cfg.http_bind,
	         h.cfg.http_port, h.cfg.tts_voice);
	/* Bound and answering clip requests: ready. */
	health_start(h.loop, h.cfg.runtime_dir, "httpd", httpd_health_facts, &h);
	health_ready();

	uv_run(h.loop, UV_RUN_DEFAULT);
	health_finish(h.loop);

	clips_close(&h.clips);
	gena_route_close();
	nng_fini(); /* joins nng's threads, so leak checkers see a clean exit */
	synth_shutdown();
	if ((rv = uv_loop_close(h.loop)) != 0)
		log_warnx("loop still has handles: %s", uv_strerror(rv));
	log_info("stopped");
	return 0;
}
