/* bridge.c -- mqttd's glue: MQTT requests to playerd, bus events and speakers to MQTT. */
#include "bridge.h"
#include "event.h"
#include "log.h"
#include "mqtt.h"
#include "speakers.h"
#include "util.h"

#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRIDGE_QUERY_FIRST_MS 200
#define BRIDGE_QUERY_EVERY_MS 2000
#define BRIDGE_QUERY_TRIES 10
#define BRIDGE_KEEPALIVE_S 30

/* Publish ev on <base>/bridge/event and log it. */
static void
bridge_publish_event(struct bridge *b, const struct msg_event *ev)
{
	char *json = event_json(ev, util_now_ms());

	log_info("%s %s: %s%s%s", ev->id, ev->target[0] ? ev->target : "-",
		 event_status_name(ev->status), ev->error[0] ? ": " : "", ev->error);
	if (json == NULL) {
		log_warnx("%s: out of memory", ev->id);
		return;
	}
	mqtt_publish(b->mqtt, b->topic_event, json, strlen(json), 0);
	free(json);
}

/* Answer a request mqttd will not hand on. */
static void
bridge_answer(struct bridge *b, const char *id, const char *target, enum event_status status,
	      const char *error)
{
	struct msg_event ev;

	event_init(&ev, id, target, status, error);
	bridge_publish_event(b, &ev);
}

/* The single entry of requests: a message on <base>/<target>/<tts|clip>. Its PUBACK leaves
 * after this returns (threaded mode), so what is done here happens before the ack. */
static void
bridge_message(void *ctx, const struct mosquitto_message *m)
{
	struct bridge *b = ctx;
	char target[MSG_TARGET_MAX], fallback[40];
	struct request_result res;
	enum request_kind kind;
	int rv = 0;

	if (request_topic_parse(b->cfg->base_topic, m->topic, target, &kind) < 0) {
		log_debug("%s: not a request topic, ignored", m->topic);
		return;
	}
	clientid_uuid(fallback);
	request_parse(&b->limits, kind, target, m->payload,
		      m->payloadlen > 0 ? (size_t)m->payloadlen : 0, fallback, util_now_ms(), &res);
	if (m->retain) {
		log_warnx("%s: retained message not executed", m->topic);
		bridge_answer(b, res.id, target, EVENT_REJECTED,
			      "retained message not executed (publish without the retain flag)");
	} else if (res.req == NULL) {
		log_warnx("%s: rejected: %s", m->topic, res.reason);
		bridge_answer(b, res.id, target, EVENT_REJECTED, res.reason);
	} else if (!b->open_playerd ||
		   (rv = bus_send(b->to_playerd, MSG_REQUEST, res.req, res.size)) != 0) {
		log_warnx("%s: %s %s: playerd: %s", res.id, request_kind_name(kind), target,
			  b->open_playerd ? nng_strerror(rv) : "no socket");
		bridge_answer(b, res.id, target, EVENT_FAILED, "player unavailable");
	} else {
		log_info("%s: %s for %s handed to playerd (%u bytes)", res.id,
			 request_kind_name(kind), target, res.req->text_len);
	}
	free(res.req);
}

static void
bridge_publish_availability(struct bridge *b, const char *slug, const char *state)
{
	char topic[BRIDGE_TOPIC_MAX];

	snprintf(topic, sizeof(topic), "%s/%s/availability", b->cfg->base_topic, slug);
	mqtt_publish(b->mqtt, topic, state, strlen(state), 1);
}

/* Publish bridge/info when it differs from the last one, or always when force. */
static void
bridge_publish_info(struct bridge *b, int force)
{
	char *json = event_info_json(SB_VERSION, b->client_id, b->table, b->table_count);

	if (json == NULL) {
		log_warnx("out of memory");
		return;
	}
	if (!force && b->info != NULL && strcmp(json, b->info) == 0) {
		free(json);
		return;
	}
	if (mqtt_is_connected(b->mqtt))
		mqtt_publish(b->mqtt, b->topic_info, json, strlen(json), 1);
	free(b->info);
	b->info = json;
}

/* Every (re)connect: say online, subscribe, and republish all retained state. */
static void
bridge_connected(void *ctx)
{
	struct bridge *b = ctx;
	char pattern[BRIDGE_TOPIC_MAX];

	mqtt_publish(b->mqtt, b->topic_state, "online", 6, 1);
	snprintf(pattern, sizeof(pattern), "%s/+/tts", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	snprintf(pattern, sizeof(pattern), "%s/+/clip", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	snprintf(pattern, sizeof(pattern), "%s/+/set", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	bridge_publish_info(b, 1);
	for (size_t i = 0; i < b->online->count; i++)
		bridge_publish_availability(b, b->online->slug[i], "online");
	for (size_t i = 0; i < b->gone->count; i++)
		bridge_publish_availability(b, b->gone->slug[i], "offline");
}

/* A new table from discoveryd: availability for rooms that came or went, then the info. */
static void
bridge_speakers(struct bridge *b, const struct msg_speakers *t)
{
	struct speaker_slugs *now = malloc(sizeof(*now));
	struct msg_speaker *copy = NULL;
	int connected = mqtt_is_connected(b->mqtt);

	if (now == NULL ||
	    (t->count > 0 && (copy = malloc(t->count * sizeof(*copy))) == NULL)) {
		log_warnx("out of memory");
		free(now);
		return;
	}
	if (t->count > 0)
		memcpy(copy, t->speakers, t->count * sizeof(*copy));
	speakers_slugs(t->speakers, t->count, now);
	for (size_t i = 0; i < now->count; i++) {
		if (speakers_slugs_has(b->online, now->slug[i]))
			continue;
		log_info("%s: online", now->slug[i]);
		speakers_slugs_remove(b->gone, now->slug[i]);
		if (connected)
			bridge_publish_availability(b, now->slug[i], "online");
	}
	for (size_t i = 0; i < b->online->count; i++) {
		if (speakers_slugs_has(now, b->online->slug[i]))
			continue;
		log_info("%s: offline", b->online->slug[i]);
		speakers_slugs_add(b->gone, b->online->slug[i]);
		if (connected)
			bridge_publish_availability(b, b->online->slug[i], "offline");
	}
	free(b->online);
	b->online = now;
	free(b->table);
	b->table = copy;
	b->table_count = t->count;
	bridge_publish_info(b, 0);
	if (!b->have_table) {
		b->have_table = 1;
		uv_timer_stop(&b->query_timer);
	}
}

static void
bridge_speakers_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct bridge *b = ctx;

	if (hdr->type != MSG_SPEAKERS) {
		log_warnx("unexpected %s from discoveryd", msg_type_name(hdr->type));
		return;
	}
	bridge_speakers(b, payload);
}

/* A speaker's state document from playerd: retained on <base>/<slug>/state. */
static void
bridge_publish_state(struct bridge *b, const struct msg_speaker_state *st)
{
	char slug[MSG_TARGET_MAX], topic[CONFIG_STR_MAX + MSG_TARGET_MAX + 16];

	if (util_slug(st->room, slug, sizeof(slug)) <= 0)
		return;
	snprintf(topic, sizeof(topic), "%s/%s/state", b->cfg->base_topic, slug);
	mqtt_publish(b->mqtt, topic, st->json, st->json_len, 1);
}

static void
bridge_inbox_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct bridge *b = ctx;

	switch (hdr->type) {
	case MSG_EVENT:
		bridge_publish_event(b, payload);
		break;
	case MSG_SPEAKER_STATE:
		bridge_publish_state(b, payload);
		break;
	default:
		log_warnx("unexpected %s on the inbox", msg_type_name(hdr->type));
		break;
	}
}

/* Ask discoveryd for its table: a restarted mqttd should not wait for the next periodic one.
 * Repeated a few times, since the answer is lost if our subscription is not connected yet. */
static void
bridge_query_cb(uv_timer_t *t)
{
	struct bridge *b = t->data;
	int rv;

	if (b->have_table || ++b->queries > BRIDGE_QUERY_TRIES) {
		uv_timer_stop(t);
		return;
	}
	if ((rv = bus_send(b->to_discoveryd, MSG_SPEAKERS_QUERY, NULL, 0)) != 0)
		log_debug("speakers query: %s", nng_strerror(rv));
}

static void
bridge_stopped(void *ctx)
{
	struct bridge *b = ctx;

	if (b->reading_inbox)
		bus_reader_close(&b->inbox_reader);
	if (b->reading_speakers)
		bus_reader_close(&b->speakers_reader);
	uv_close((uv_handle_t *)&b->query_timer, NULL);
	uv_close((uv_handle_t *)&b->sigterm, NULL);
	uv_close((uv_handle_t *)&b->sigint, NULL);
}

static void
bridge_signal_cb(uv_signal_t *h, int signum)
{
	struct bridge *b = h->data;

	if (b->stopping)
		return;
	b->stopping = 1;
	log_info("stopping on %s", strsignal(signum));
	mqtt_stop(b->mqtt, b->topic_state, "offline");
}

/* Bind the inbox, dial peers and start readers. */
static int
bridge_bus_start(struct bridge *b)
{
	const char *rundir = b->cfg->runtime_dir;
	int rv;

	if ((rv = bus_inbox_listen(&b->inbox, rundir, "mqttd")) != 0) {
		log_errorx("inbox %s/mqttd.ipc: %s", rundir, nng_strerror(rv));
		return -1;
	}
	b->open_inbox = 1;
	if (bus_reader_start(&b->inbox_reader, b->loop, b->inbox, "inbox", bridge_inbox_cb, b) <
	    0)
		return -1;
	b->reading_inbox = 1;
	if ((rv = bus_sub_dial(&b->speakers, rundir, "discoveryd")) != 0) {
		log_errorx("discoveryd.pub: %s", nng_strerror(rv));
		return -1;
	}
	b->open_speakers = 1;
	if (bus_reader_start(&b->speakers_reader, b->loop, b->speakers, "speakers",
			     bridge_speakers_cb, b) < 0)
		return -1;
	b->reading_speakers = 1;
	if ((rv = bus_push_dial(&b->to_playerd, rundir, "playerd")) != 0) {
		log_errorx("playerd.ipc: %s", nng_strerror(rv));
		return -1;
	}
	b->open_playerd = 1;
	if ((rv = bus_push_dial(&b->to_discoveryd, rundir, "discoveryd")) != 0) {
		log_errorx("discoveryd.ipc: %s", nng_strerror(rv));
		return -1;
	}
	b->open_discoveryd = 1;
	return 0;
}

int
bridge_start(struct bridge *b, uv_loop_t *loop, const struct config *cfg, const char *client_id)
{
	const struct mqtt_handlers handlers = {bridge_connected, bridge_message, bridge_stopped};
	struct mqtt_options opt = {0};
	const char *base = cfg->base_topic;

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->loop = loop;
	msg_strlcpy(b->client_id, client_id, sizeof(b->client_id));
	b->limits.max_text_length = cfg->max_text_length;
	b->limits.expiry_s = cfg->request_expiry_s;
	snprintf(b->topic_state, sizeof(b->topic_state), "%s/bridge/state", base);
	snprintf(b->topic_info, sizeof(b->topic_info), "%s/bridge/info", base);
	snprintf(b->topic_event, sizeof(b->topic_event), "%s/bridge/event", base);
	b->online = calloc(1, sizeof(*b->online));
	b->gone = calloc(1, sizeof(*b->gone));
	if (b->online == NULL || b->gone == NULL) {
		log_errorx("out of memory");
		return -1;
	}
	if (bridge_bus_start(b) < 0)
		return -1;

	uv_timer_init(loop, &b->query_timer);
	uv_signal_init(loop, &b->sigterm);
	uv_signal_init(loop, &b->sigint);
	b->query_timer.data = b->sigterm.data = b->sigint.data = b;
	uv_timer_start(&b->query_timer, bridge_query_cb, BRIDGE_QUERY_FIRST_MS,
		       BRIDGE_QUERY_EVERY_MS);
	uv_signal_start(&b->sigterm, bridge_signal_cb, SIGTERM);
	uv_signal_start(&b->sigint, bridge_signal_cb, SIGINT);

	opt.host = cfg->broker_host;
	opt.port = cfg->broker_port;
	opt.client_id = b->client_id;
	opt.will_topic = b->topic_state;
	opt.will_payload = "offline";
	opt.keepalive_s = BRIDGE_KEEPALIVE_S;
	if ((b->mqtt = mqtt_open(loop, &opt, &handlers, b)) == NULL)
		return -1;
	return 0;
}

void
bridge_cleanup(struct bridge *b)
{
	if (b->open_inbox)
		nng_close(b->inbox);
	if (b->open_speakers)
		nng_close(b->speakers);
	if (b->open_playerd)
		nng_close(b->to_playerd);
	if (b->open_discoveryd)
		nng_close(b->to_discoveryd);
	mqtt_free(b->mqtt);
	free(b->table);
	free(b->online);
	free(b->gone);
	free(b->info);
	memset(b, 0, sizeof(*b));
}
