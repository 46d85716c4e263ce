/* metrics.c -- Prometheus text format from the status document: workers (up, restarts), the
 * broker session, speakers, the clip cache, requests by kind and outcome, announcement latency.
 * Counters come from the workers that count them and restart from 0 with them, which
 * Prometheus' rate() expects of a counter. */
#include "metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void
help(struct strbuf *b, const char *name, const char *type, const char *text)
{
	strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(struct strbuf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			strbuf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			strbuf_puts(b, "\\n");
		else
			strbuf_append(b, v, 1);
	}
}

static json_t *
health(json_t *workers, const char *name)
{
	json_t *h = json_object_get(json_object_get(workers, name), "health");

	return json_is_object(h) ? h : NULL;
}

/* name value for an integer fact of a worker, with its HELP/TYPE; nothing when missing. */
static void
fact(struct strbuf *b, json_t *h, const char *key, const char *name, const char *type,
     const char *text)
{
	json_t *v = json_object_get(h, key);

	if (!json_is_integer(v) && !json_is_boolean(v))
		return;
	help(b, name, type, text);
	strbuf_printf(b, "%s %lld\n", name,
	              json_is_boolean(v) ? (long long)json_is_true(v)
	                                 : (long long)json_integer_value(v));
}

static void
workers_metrics(json_t *workers, struct strbuf *b)
{
	const char *name;
	json_t *w;

	help(b, "sonos_bridge_worker_up", "gauge", "1 when the worker is ready and healthy");
	json_object_foreach(workers, name, w)
	{
		const char *state = json_string_value(json_object_get(w, "state"));

		strbuf_puts(b, "sonos_bridge_worker_up{worker=\"");
		label_value(b, name);
		strbuf_printf(b, "\"} %d\n", state != NULL && strcmp(state, "ready") == 0);
	}
	help(b, "sonos_bridge_worker_restarts_total", "counter",
	     "restarts of the worker since the bridge started");
	json_object_foreach(workers, name, w)
	{
		strbuf_puts(b, "sonos_bridge_worker_restarts_total{worker=\"");
		label_value(b, name);
		strbuf_printf(b, "\"} %lld\n",
		              (long long)json_integer_value(json_object_get(w, "restarts")));
	}
}

static void
activity_metrics(json_t *activity, struct strbuf *b)
{
	json_t *requests = json_object_get(activity, "requests"), *lat, *bounds, *counts, *kind, *n;
	const char *kname, *oname;
	long long cumulative = 0;
	size_t i;

	if (!json_is_object(requests))
		return;
	help(b, "sonos_bridge_requests_total", "counter",
	     "requests finished, by kind (tts, clip, set; other: rejected before it was known) "
	     "and outcome, one per speaker");
	json_object_foreach(requests, kname, kind)
	{
		json_object_foreach(kind, oname, n)
		{
			strbuf_puts(b, "sonos_bridge_requests_total{kind=\"");
			label_value(b, kname);
			strbuf_puts(b, "\",outcome=\"");
			label_value(b, oname);
			strbuf_printf(b, "\"} %lld\n", (long long)json_integer_value(n));
		}
	}
	help(b, "sonos_bridge_announcements_total", "counter",
	     "announcements (tts and clip) finished, by outcome, one per speaker");
	json_object_foreach(json_object_get(requests, "tts"), oname, n)
	{
		json_t *clip = json_object_get(json_object_get(requests, "clip"), oname);

		strbuf_puts(b, "sonos_bridge_announcements_total{outcome=\"");
		label_value(b, oname);
		strbuf_printf(b, "\"} %lld\n",
		              (long long)(json_integer_value(n) + json_integer_value(clip)));
	}
	lat = json_object_get(activity, "latency_ms");
	bounds = json_object_get(lat, "bounds");
	counts = json_object_get(lat, "counts");
	if (!json_is_array(bounds) || !json_is_array(counts) ||
	    json_array_size(counts) != json_array_size(bounds) + 1)
		return;
	help(b, "sonos_bridge_announcement_latency_seconds", "histogram",
	     "from the request's arrival at mqttd to the speaker playing it");
	json_array_foreach(bounds, i, n)
	{
		cumulative += (long long)json_integer_value(json_array_get(counts, i));
		strbuf_printf(b,
		              "sonos_bridge_announcement_latency_seconds_bucket{le=\"%g\"} %lld\n",
		              (double)json_integer_value(n) / 1000.0, cumulative);
	}
	cumulative +=
	    (long long)json_integer_value(json_array_get(counts, json_array_size(bounds)));
	strbuf_printf(b, "sonos_bridge_announcement_latency_seconds_bucket{le=\"+Inf\"} %lld\n",
	              cumulative);
	strbuf_printf(b, "sonos_bridge_announcement_latency_seconds_sum %.3f\n",
	              (double)json_integer_value(json_object_get(lat, "sum")) / 1000.0);
	strbuf_printf(b, "sonos_bridge_announcement_latency_seconds_count %lld\n",
	              (long long)json_integer_value(json_object_get(lat, "count")));
}

int
metrics_render(const char *doc, size_t len, struct strbuf *out)
{
	json_t *root = json_loadb(doc, len, 0, NULL), *workers, *mqttd, *disc, *httpd;
	const char *version;

	if (root == NULL || !json_is_object(workers = json_object_get(root, "workers"))) {
		json_decref(root);
		return -1;
	}
	mqttd = health(workers, "mqttd");
	disc = health(workers, "discoveryd");
	httpd = health(workers, "httpd");
	version = json_string_value(json_object_get(root, "version"));

	help(out, "sonos_bridge_info", "gauge", "the bridge's version");
	strbuf_puts(out, "sonos_bridge_info{version=\"");
	label_value(out, version != NULL ? version : "");
	strbuf_puts(out, "\"} 1\n");
	help(out, "sonos_bridge_uptime_seconds", "gauge", "time since the supervisor started");
	strbuf_printf(out, "sonos_bridge_uptime_seconds %.3f\n",
	              (double)json_integer_value(json_object_get(root, "uptime_ms")) / 1000.0);
	workers_metrics(workers, out);
	fact(out, mqttd, "broker_connected", "sonos_bridge_broker_connected", "gauge",
	     "1 while the broker session is up");
	fact(out, mqttd, "reconnects", "sonos_bridge_broker_reconnects_total", "counter",
	     "broker sessions after the first, since mqttd started");
	fact(out, mqttd, "sessions_lost", "sonos_bridge_broker_sessions_lost_total", "counter",
	     "reconnects where the broker had lost our persistent session");
	fact(out, mqttd, "spool_depth", "sonos_bridge_spool_requests", "gauge",
	     "requests accepted and not yet finished");
	fact(out, disc, "speakers_known", "sonos_bridge_speakers_known", "gauge",
	     "speakers (rooms) discoveryd lists");
	fact(out, httpd, "cache_entries", "sonos_bridge_clip_cache_entries", "gauge",
	     "synthesized clips in the cache");
	fact(out, httpd, "cache_bytes", "sonos_bridge_clip_cache_bytes", "gauge",
	     "bytes of the clip cache");
	fact(out, httpd, "requests_served", "sonos_bridge_http_requests_total", "counter",
	     "HTTP requests httpd answered since it started");
	activity_metrics(json_object_get(mqttd, "activity"), out);
	json_decref(root);
	return out->failed ? -1 : 0;
}
