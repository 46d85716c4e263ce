/* report.c -- what the CLI makes of a status document: the healthcheck verdict and the table. */
#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
report_duration(uint64_t ms, char *out, size_t size)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(out, size, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(out, size, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(out, size, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(out, size, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
	else
		snprintf(out, size, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s / 3600 % 24));
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

static long long
int_or(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* "signal KILL", "status 78", "-" */
static void
last_exit_text(json_t *w, char *out, size_t size)
{
	json_t *e = json_object_get(w, "last_exit");

	if (!json_is_object(e))
		snprintf(out, size, "-");
	else if (json_object_get(e, "signal") != NULL)
		snprintf(out, size, "signal %s", str_or(e, "signal_name", "?"));
	else
		snprintf(out, size, "status %lld", int_or(e, "status", -1));
}

static json_t *
load_status(const char *doc, size_t len)
{
	json_t *root = json_loadb(doc, len, 0, NULL);

	if (root != NULL && (!json_is_object(root) ||
			     !json_is_object(json_object_get(root, "workers")))) {
		json_decref(root);
		root = NULL;
	}
	return root;
}

int
report_verdict(const char *doc, size_t len, char *why, size_t whylen)
{
	json_t *root = load_status(doc, len), *workers, *w, *mqttd, *health;
	const char *name;
	char exit_text[64];
	int nworkers = 0, rv = 1;
	long long speakers;

	if (root == NULL) {
		snprintf(why, whylen, "the status socket did not answer with a status document");
		return 1;
	}
	workers = json_object_get(root, "workers");
	if (json_is_true(json_object_get(root, "stopping"))) {
		snprintf(why, whylen, "the bridge is stopping");
		goto out;
	}
	json_object_foreach(workers, name, w) {
		const char *state = str_or(w, "state", "unknown");

		nworkers++;
		if (strcmp(state, "ready") == 0)
			continue;
		last_exit_text(w, exit_text, sizeof(exit_text));
		if (strcmp(state, "unhealthy") == 0)
			snprintf(why, whylen, "%s is unhealthy: missed %lld health checks", name,
				 int_or(w, "missed_health_checks", 0));
		else if (strcmp(state, "starting") == 0)
			snprintf(why, whylen, "%s is starting", name);
		else
			snprintf(why, whylen, "%s is %s (%lld restarts, last exit: %s)", name, state,
				 int_or(w, "restarts", 0), exit_text);
		goto out;
	}
	if (nworkers == 0) {
		snprintf(why, whylen, "the status document lists no workers");
		goto out;
	}
	mqttd = json_object_get(workers, "mqttd");
	health = json_object_get(mqttd, "health");
	if (!json_is_object(health)) {
		snprintf(why, whylen, "mqttd has not answered a health check yet");
		goto out;
	}
	if (!json_is_true(json_object_get(health, "broker_connected"))) {
		snprintf(why, whylen, "mqttd is not connected to the broker %s",
			 str_or(health, "broker", ""));
		goto out;
	}
	speakers = int_or(json_object_get(json_object_get(workers, "discoveryd"), "health"),
			  "speakers_known", -1);
	if (speakers >= 0)
		snprintf(why, whylen, "healthy: %d workers ready, broker connected, %lld speakers",
			 nworkers, speakers);
	else
		snprintf(why, whylen, "healthy: %d workers ready, broker connected", nworkers);
	rv = 0;
out:
	json_decref(root);
	return rv;
}

/* One line about a worker's own facts, by worker. */
static void
health_summary(const char *name, json_t *h, struct strbuf *out)
{
	char d[32];

	if (!json_is_object(h)) {
		strbuf_puts(out, "-");
		return;
	}
	if (strcmp(name, "mqttd") == 0) {
		json_t *sp = json_object_get(h, "session_present");

		strbuf_printf(out, "%s %s, %lld reconnects, spool %lld",
			      json_is_true(json_object_get(h, "broker_connected"))
				      ? "connected to"
				      : "NOT connected to",
			      str_or(h, "broker", "?"), int_or(h, "reconnects", 0),
			      int_or(h, "spool_depth", 0));
		/* The session of the last connection: said only while it is the current one. */
		if (json_is_boolean(sp) && json_is_true(json_object_get(h, "broker_connected")))
			strbuf_printf(out, ", session %s", json_is_true(sp) ? "resumed" : "new");
		if (int_or(h, "sessions_lost", 0) > 0)
			strbuf_printf(out, ", %lld sessions lost", int_or(h, "sessions_lost", 0));
		if (json_is_true(json_object_get(h, "twin_suspected")))
			strbuf_puts(out, ", ANOTHER CLIENT USES OUR CLIENT ID");
		if (json_is_true(json_object_get(h, "spool_failing")))
			strbuf_puts(out, ", SPOOL CANNOT BE WRITTEN");
	} else if (strcmp(name, "discoveryd") == 0) {
		long long ago = int_or(h, "last_search_ago_ms", -1);

		strbuf_printf(out, "%lld speakers", int_or(h, "speakers_known", 0));
		if (ago >= 0) {
			report_duration((uint64_t)ago, d, sizeof(d));
			strbuf_printf(out, ", last search %s ago", d);
		}
	} else if (strcmp(name, "playerd") == 0) {
		json_t *q, *queues = json_object_get(h, "queues");
		size_t i;
		int shown = 0;

		json_array_foreach(queues, i, q) {
			const char *playing = str_or(q, "playing", NULL);
			long long queued = int_or(q, "queued", 0);

			if (playing == NULL && !json_is_true(json_object_get(q, "busy")) && !queued)
				continue;
			strbuf_printf(out, "%s%s: ", shown++ ? "; " : "", str_or(q, "speaker", "?"));
			if (playing != NULL)
				strbuf_printf(out, "playing %s", playing);
			else
				strbuf_puts(out, json_is_true(json_object_get(q, "busy")) ? "busy"
											 : "waiting");
			if (queued > 0)
				strbuf_printf(out, ", %lld queued", queued);
		}
		if (!shown)
			strbuf_puts(out, "idle");
	} else if (strcmp(name, "httpd") == 0) {
		strbuf_printf(out, "%lld clips (%lld KiB), %lld requests served",
			      int_or(h, "cache_entries", 0), int_or(h, "cache_bytes", 0) / 1024,
			      int_or(h, "requests_served", 0));
	} else {
		char *s = json_dumps(h, JSON_COMPACT);

		strbuf_puts(out, s != NULL ? s : "?");
		free(s);
	}
}

static void
speakers_table(json_t *workers, struct strbuf *out)
{
	json_t *list = json_object_get(json_object_get(json_object_get(workers, "discoveryd"),
						       "health"),
				       "speakers"),
	       *s;
	size_t i;

	if (!json_is_array(list)) {
		strbuf_puts(out, "\nspeakers: unknown (discoveryd has not answered yet)\n");
		return;
	}
	if (json_array_size(list) == 0) {
		strbuf_puts(out, "\nspeakers: none found yet\n");
		return;
	}
	strbuf_printf(out, "\n%-20s %-21s %-20s %s\n", "SPEAKER", "ADDRESS", "MODEL", "UUID");
	json_array_foreach(list, i, s) {
		char addr[64];

		snprintf(addr, sizeof(addr), "%s:%lld", str_or(s, "ip", "?"), int_or(s, "port", 0));
		strbuf_printf(out, "%-20s %-21s %-20s %s\n", str_or(s, "room", "?"), addr,
			      str_or(s, "model", "?"), str_or(s, "uuid", "?"));
	}
}

int
report_table(const char *doc, size_t len, struct strbuf *out)
{
	json_t *root = load_status(doc, len), *workers, *w;
	const char *name;
	char up[32];

	if (root == NULL)
		return -1;
	workers = json_object_get(root, "workers");
	report_duration((uint64_t)int_or(root, "uptime_ms", 0), up, sizeof(up));
	strbuf_printf(out, "sonos-bridge %s (pid %lld), up %s%s\n\n", str_or(root, "version", "?"),
		      int_or(root, "pid", 0), up,
		      json_is_true(json_object_get(root, "stopping")) ? ", stopping" : "");
	strbuf_printf(out, "%-11s %-12s %-8s %-7s %-8s %-12s %s\n", "WORKER", "STATE", "PID",
		      "UPTIME", "RESTARTS", "LAST EXIT", "HEALTH");
	json_object_foreach(workers, name, w) {
		char pid[16], exit_text[64];
		long long p = int_or(w, "pid", -1), uptime = int_or(w, "uptime_ms", -1);

		if (p >= 0)
			snprintf(pid, sizeof(pid), "%lld", p);
		else
			snprintf(pid, sizeof(pid), "-");
		if (uptime >= 0)
			report_duration((uint64_t)uptime, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		last_exit_text(w, exit_text, sizeof(exit_text));
		strbuf_printf(out, "%-11s %-12s %-8s %-7s %-8lld %-12s ", name,
			      str_or(w, "state", "?"), pid, up, int_or(w, "restarts", 0),
			      exit_text);
		health_summary(name, json_object_get(w, "health"), out);
		strbuf_puts(out, "\n");
	}
	/* Why each worker last ended, when it or the supervisor said so. */
	json_object_foreach(workers, name, w) {
		const char *reason = str_or(json_object_get(w, "last_exit"), "reason", "");

		if (reason[0] != '\0')
			strbuf_printf(out, "  %s last exit: %s\n", name, reason);
	}
	speakers_table(workers, out);
	json_decref(root);
	return out->failed ? -1 : 0;
}
