/* bridge.c -- mqttd's glue: MQTT requests to playerd, bus events and speakers to MQTT. */
#include "bridge.h"
#include "activity.h"
#include "event.h"
#include "hass.h"
#include "log.h"
#include "mqtt.h"
#include "speakers.h"
#include "stateout.h"
#include "strbuf.h"
#include "util.h"

#include <errno.h>

#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRIDGE_QUERY_FIRST_MS 200
#define BRIDGE_QUERY_EVERY_MS 2000
#define BRIDGE_QUERY_TRIES 10
#define BRIDGE_KEEPALIVE_S 30
#define BRIDGE_TICK_MS 1000
#define BRIDGE_RESEND_MS 10000        /* not acknowledged by playerd for this long: send again */
#define BRIDGE_PUBACK_WAIT_MS 60000   /* events not taken by a connected broker: ask again */
#define BRIDGE_GIVE_UP_MS 3600000     /* past the deadline by this, playerd never answered */
#define BRIDGE_WINDOW 512             /* requests handed to playerd and not yet answered */

/* A terminal event published for a spooled request, until the broker acknowledges it. */
struct bridge_pending {
	int mid;
	char id[MSG_ID_MAX];
};

static int
is_terminal(unsigned status)
{
	return status == EVENT_DONE || status == EVENT_FAILED || status == EVENT_EXPIRED ||
	       status == EVENT_REJECTED;
}

/* Publish ev on <base>/bridge/event and log it. Returns 0 with the message id in *mid (when
 * mid is not NULL), or -1 when it could not be queued. */
static int
bridge_publish_event(struct bridge *b, const struct msg_event *ev, int *mid)
{
	char *json = event_json(ev, util_now_ms());
	int rv;

	/* The room too: a request to all has one event of each status per group. */
	log_info("%s %s%s%.*s%s: %s%s%s", ev->id, ev->target[0] ? ev->target : "-",
	         ev->speaker[0] ? " (" : "", (int)sizeof(ev->speaker), ev->speaker,
	         ev->speaker[0] ? ")" : "",
	         event_status_name(ev->status), ev->error[0] ? ": " : "", ev->error);
	if (json == NULL) {
		log_warnx("%s: out of memory", ev->id);
		return -1;
	}
	/* QoS 2: a subscriber at QoS 2 gets each event once, even across broker restarts. */
	rv = mqtt_publish_mid(b->mqtt, b->topic_event, json, strlen(json), 2, 0, mid);
	free(json);
	return rv;
}

/* The request a spool entry holds, NULL when none (a finished entry keeps no payload). */
static const struct msg_request *
bridge_request_of(const struct spool_entry *e)
{
	return e != NULL && e->payload != NULL && e->msg_type == MSG_REQUEST
	           ? (const struct msg_request *)(const void *)e->payload
	           : NULL;
}

/* Answer a request mqttd will not hand on. */
/* A publisher's id seen again this long after its request finished is reused, not redelivered. */
#define BRIDGE_REUSE_MS 60000

static void
bridge_answer(struct bridge *b, enum request_kind kind, const char *id, const char *target,
              enum event_status status, const char *error)
{
	struct msg_event ev;

	event_init(&ev, id, target, status, error);
	activity_event(b->activity, &ev, kind, NULL, util_now_ms());
	bridge_publish_event(b, &ev, NULL);
}

/* Hand a spooled request to playerd. A send that fails (playerd away, its queue full) is
 * repeated by the tick or when playerd connects again. */
static void
bridge_deliver(struct bridge *b, struct spool_entry *e)
{
	int rv;

	e->sent_mono = util_mono_ms();
	if (e->sends++ > 0)
		b->resent++;
	else
		b->inflight++;
	if ((rv = bus_send(b->to_playerd, e->msg_type, e->payload, e->len)) != 0)
		log_debug("%s: to playerd: %s (will retry)", e->id, nng_strerror(rv));
}

/* Forget the broker acknowledgements the request id waits for. */
static void
bridge_pending_drop(struct bridge *b, const char *id)
{
	size_t i = 0;

	while (i < b->npending) {
		if (strcmp(b->pending[i].id, id) == 0)
			b->pending[i] = b->pending[--b->npending];
		else
			i++;
	}
}

/* Hand waiting requests to playerd, in arrival order, while fewer than BRIDGE_WINDOW are
 * unanswered: the bus queues (1024 messages each way) then never overflow, even when
 * thousands arrive at once. */
static void
bridge_fill(struct bridge *b)
{
	while (b->unsent != NULL && b->inflight < BRIDGE_WINDOW) {
		struct spool_entry *e = b->unsent;

		b->unsent = e->next;
		bridge_deliver(b, e);
	}
}

/* playerd has answered e (or is no longer asked to): its place in the window is free. */
static void
bridge_answered(struct bridge *b, struct spool_entry *e)
{
	if (e->sends > 0 && !e->acked && b->inflight > 0)
		b->inflight--;
}

/* e is finished: playerd said so and the broker has its terminal events. */
static void
bridge_complete(struct bridge *b, struct spool_entry *e)
{
	log_debug("%s: finished after %u sends", e->id, e->sends);
	bridge_answered(b, e);
	if (b->unsent == e)
		b->unsent = e->next;
	bridge_pending_drop(b, e->id);
	spool_complete(&b->spool, e, util_now_ms());
	b->completed++;
}

/* Take a valid request into the spool and hand it on. The spool write is durable before this
 * returns, and so before the PUBACK can leave (see bridge_message). */
static void
bridge_accept(struct bridge *b, const struct request_result *res, const char *topic)
{
	struct spool_record rec = {.op = SPOOL_ADD,
	                           .msg_type = MSG_REQUEST,
	                           .time_ms = res->req->received_ms,
	                           .deadline_ms = res->req->deadline_ms,
	                           .payload = (const uint8_t *)res->req,
	                           .len = res->size};
	struct spool_entry *e = spool_find(&b->spool.table, res->id);
	char why[160];
	int error = 0;

	if (e != NULL) {
		/* A redelivery (DUP) of a message whose PUBACK was lost, or a publisher that
		 * reused an id: either way it is not run twice. A redelivery comes at the
		 * reconnect, while or just after the request runs; a publisher's id seen again a
		 * minute after its request finished is a reused id, and the publisher is told. */
		log_warnx("%s: %s: already %s; not run again (a redelivery, or an id used twice)",
		          res->id, topic, e->done ? "finished" : "in the spool");
		b->repeats++;
		if (e->done && strncmp(res->id, "auto-", 5) != 0 &&
		    util_now_ms() > e->done_ms + BRIDGE_REUSE_MS)
			bridge_answer(b, (enum request_kind)res->req->kind, res->id,
			              res->req->target, EVENT_REJECTED,
			              "id already used by an earlier request; give every request "
			              "its own id");
		return;
	}
	msg_strlcpy(rec.id, res->id, sizeof(rec.id));
	if ((e = spool_accept(&b->spool, &rec, &error)) == NULL) {
		if (error == -ENOMEM) {
			log_warnx("%s: out of memory; on disk, delivered at the next start",
			          res->id);
			return;
		}
		snprintf(why, sizeof(why), "spool write failed: %s", strerror(-error));
		mqtt_refuse(b->mqtt, why);
		return;
	}
	b->accepted++;
	log_info("%s: %s for %s spooled, handing it to playerd (%u bytes)", res->id,
	         request_kind_name(res->req->kind), res->req->target, res->req->text_len);
	if (b->unsent == NULL)
		b->unsent = e;
	bridge_fill(b);
}

/* The single entry of requests: a message on <base>/<target>/<tts|clip>. Its PUBACK leaves
 * after this returns (threaded mode), so what is done here happens before the ack. */
static void
bridge_message(void *ctx, const struct mosquitto_message *m)
{
	struct bridge *b = ctx;
	char target[MSG_TARGET_MAX], fallback[MSG_ID_MAX];
	struct request_result res;
	enum request_kind kind;

	if (hass_message(b->hass, m->topic, m->payload,
	                 m->payloadlen > 0 ? (size_t)m->payloadlen : 0, util_now_ms()))
		return;
	if (request_topic_parse(b->cfg->base_topic, m->topic, target, &kind) < 0) {
		log_debug("%s: not a request topic, ignored", m->topic);
		return;
	}
	/* Without an id from the publisher: at QoS 1 and 2 one derived from the message, so a
	 * broker's redelivery maps to the same request; at QoS 0 there is no redelivery, and
	 * the packet id is always 0, so the same text said twice must get two ids. */
	if (m->qos == 0)
		request_unique_id(fallback);
	else
		request_derive_id(m->topic, m->payload,
		                  m->payloadlen > 0 ? (size_t)m->payloadlen : 0, m->mid, fallback);
	request_parse(&b->limits, kind, target, m->payload,
	              m->payloadlen > 0 ? (size_t)m->payloadlen : 0, fallback, util_now_ms(), &res);
	if (m->retain) {
		log_warnx("%s: retained message not executed", m->topic);
		bridge_answer(b, kind, res.id, target, EVENT_REJECTED,
		              "retained message not executed (publish without the retain flag)");
	} else if (res.req == NULL) {
		log_warnx("%s: rejected: %s", m->topic, res.reason);
		bridge_answer(b, kind, res.id, target, EVENT_REJECTED, res.reason);
	} else {
		bridge_accept(b, &res, m->topic);
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

	b->connected_mono = util_mono_ms();
	mqtt_publish(b->mqtt, b->topic_state, "online", 6, 1);
	snprintf(pattern, sizeof(pattern), "%s/+/tts", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	snprintf(pattern, sizeof(pattern), "%s/+/clip", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	snprintf(pattern, sizeof(pattern), "%s/+/set", b->cfg->base_topic);
	mqtt_subscribe(b->mqtt, pattern);
	if (hass_enabled(b->hass))
		mqtt_subscribe(b->mqtt, hass_status_topic(b->hass));
	/* Before the first table a restarted mqttd would say "no speakers"; the table, or giving
	 * up waiting for one, publishes it. */
	if (b->have_table || b->queries > BRIDGE_QUERY_TRIES)
		bridge_publish_info(b, 1);
	for (size_t i = 0; i < b->online->count; i++)
		bridge_publish_availability(b, b->online->slug[i], "online");
	for (size_t i = 0; i < b->gone->count; i++)
		bridge_publish_availability(b, b->gone->slug[i], "offline");
	hass_publish_all(b->hass);
	/* A broker that lost its retained messages (no persistence) has them again. */
	for (size_t i = 0; i < b->nstates; i++)
		mqtt_publish(b->mqtt, b->states[i].topic, b->states[i].json, b->states[i].len, 1);
}

/* A new table from discoveryd: availability for rooms that came or went, then the info. */
static void
bridge_speakers(struct bridge *b, const struct msg_speakers *t)
{
	struct speaker_slugs *now = malloc(sizeof(*now));
	struct msg_speaker *copy = NULL;
	int connected = mqtt_is_connected(b->mqtt);

	if (now == NULL || (t->count > 0 && (copy = malloc(t->count * sizeof(*copy))) == NULL)) {
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
	hass_speakers(b->hass, t->speakers, t->count, util_now_ms(), connected);
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

/* Keep json as the latest document of topic, for bridge_connected. */
static void
bridge_keep_state(struct bridge *b, const char *topic, const char *json, size_t len)
{
	struct bridge_state *k = NULL;
	char *copy = malloc(len > 0 ? len : 1);

	if (copy == NULL) {
		log_warnx("%s: out of memory", topic);
		return;
	}
	memcpy(copy, json, len);
	for (size_t i = 0; i < b->nstates && k == NULL; i++)
		if (strcmp(b->states[i].topic, topic) == 0)
			k = &b->states[i];
	if (k == NULL && b->states == NULL &&
	    (b->states = calloc(BRIDGE_STATES_MAX, sizeof(*b->states))) == NULL) {
		log_warnx("%s: out of memory", topic);
		free(copy);
		return;
	}
	if (k == NULL && b->nstates == BRIDGE_STATES_MAX) {
		/* Many rooms came and went: forget the oldest. */
		free(b->states[0].json);
		memmove(&b->states[0], &b->states[1], (BRIDGE_STATES_MAX - 1) * sizeof(*b->states));
		b->nstates--;
	}
	if (k == NULL) {
		k = &b->states[b->nstates++];
		msg_strlcpy(k->topic, topic, sizeof(k->topic));
		k->json = NULL;
	}
	free(k->json);
	k->json = copy;
	k->len = len;
}

/* A speaker's state document, due after coalescing (stateout_run's publish): retained on
 * <base>/<slug>/state, and kept to be published again at every connection. While the broker is away only kept: the connection
 * publishes the latest, and libmosquitto's queue keeps room for events. */
static void
bridge_state_publish(void *ctx, const struct stateout_doc *d)
{
	struct bridge *b = ctx;
	char slug[MSG_TARGET_MAX], topic[BRIDGE_TOPIC_MAX];

	if (util_slug(d->room, slug, sizeof(slug)) <= 0)
		return;
	snprintf(topic, sizeof(topic), "%s/%s/state", b->cfg->base_topic, slug);
	if (mqtt_is_connected(b->mqtt))
		mqtt_publish(b->mqtt, topic, d->held, d->held_len, 1);
	bridge_keep_state(b, topic, d->held, d->held_len);
	activity_state(b->activity, d->uuid, d->room, d->held, d->held_len);
}

static void bridge_state_timer_cb(uv_timer_t *t);

/* Publish the held documents that are due (all of them at now UINT64_MAX); arm the timer for
 * the next. */
static void
bridge_state_flush(struct bridge *b, uint64_t now)
{
	long next = stateout_run(b->stateout, now, bridge_state_publish, b);

	if (next >= 0 && !b->stopping)
		uv_timer_start(&b->state_timer, bridge_state_timer_cb, (uint64_t)next, 0);
}

static void
bridge_state_timer_cb(uv_timer_t *t)
{
	bridge_state_flush(t->data, util_mono_ms());
}

/* A speaker's state document from playerd: a burst of them (a volume slider dragged) is
 * published once, the last one, STATEOUT_QUIET_MS after it ends. */
static void
bridge_speaker_state(struct bridge *b, const struct msg_speaker_state *st)
{
	if (stateout_offer(b->stateout, st->uuid, st->room, st->json, st->json_len,
	                   util_mono_ms()) < 0) {
		log_warnx("%s: state dropped: out of memory", st->room);
		return;
	}
	if (!uv_is_active((uv_handle_t *)&b->state_timer))
		bridge_state_flush(b, util_mono_ms());
}

/* An event from playerd. Terminal events of spooled requests are published once per
 * speaker: playerd re-reports them when a request is sent again, and a report that was
 * already published (or belongs to a finished request) is dropped here. */
static void
bridge_event(struct bridge *b, const struct msg_event *ev)
{
	struct spool_entry *e = spool_find(&b->spool.table, ev->id);
	struct bridge_pending *more;
	int mid = 0;

	if (e != NULL && (e->done || e->acked)) {
		log_debug("%s: %s again, already reported", ev->id, event_status_name(ev->status));
		return;
	}
	if (e != NULL && is_terminal(ev->status) && spool_note_reported(e, ev->uuid) == 1) {
		log_debug("%s: %s on '%s' again, already reported", ev->id,
		          event_status_name(ev->status), ev->uuid);
		return;
	}
	activity_event(b->activity, ev, 0, bridge_request_of(e), util_now_ms());
	if (bridge_publish_event(b, ev, &mid) < 0) {
		/* Not noted as reported, so the next tick asks playerd for it again. */
		if (e != NULL && is_terminal(ev->status))
			spool_unnote_reported(e, ev->uuid);
		return;
	}
	if (e == NULL || !is_terminal(ev->status))
		return;
	if (b->npending == b->cap_pending) {
		size_t cap = b->cap_pending ? b->cap_pending * 2 : 64;

		if ((more = realloc(b->pending, cap * sizeof(*more))) == NULL)
			return;
		b->pending = more;
		b->cap_pending = cap;
	}
	b->pending[b->npending].mid = mid;
	msg_strlcpy(b->pending[b->npending].id, ev->id, sizeof(b->pending[0].id));
	b->npending++;
	e->pending++;
}

/* playerd is done with a request: all its terminal events came before this. */
static void
bridge_request_ack(struct bridge *b, const struct msg_request_ack *ack)
{
	struct spool_entry *e = spool_find(&b->spool.table, ack->id);

	if (e == NULL || e->done || e->acked || e->sends == 0)
		return;
	if (e->nreported < ack->events) {
		/* A terminal event was lost on the way (a full bus queue): without it the request
		 * must not be finished. Sending it again makes playerd report again. */
		log_warnx("%s: %zu of %u terminal events arrived; asking playerd again", e->id,
		          e->nreported, ack->events);
		e->sent_mono = util_mono_ms() - BRIDGE_RESEND_MS;
		return;
	}
	bridge_answered(b, e);
	e->acked = 1;
	e->acked_mono = util_mono_ms();
	if (e->pending == 0)
		bridge_complete(b, e);
	bridge_fill(b);
}

/* The broker took one of our publishes. */
static void
bridge_published(void *ctx, int mid)
{
	struct bridge *b = ctx;
	struct spool_entry *e;

	for (size_t i = 0; i < b->npending; i++) {
		if (b->pending[i].mid != mid)
			continue;
		e = spool_find(&b->spool.table, b->pending[i].id);
		b->pending[i] = b->pending[--b->npending];
		if (e == NULL || e->done || e->pending == 0)
			return;
		if (--e->pending == 0 && e->acked)
			bridge_complete(b, e);
		return;
	}
}

static uint64_t
max_u64(uint64_t x, uint64_t y)
{
	return x > y ? x : y;
}

/* Once a second: send again what playerd has not answered, ask again for terminal events the
 * broker never acknowledged, give up on requests long past their deadline, keep the spool
 * small. The wait for the broker counts only while connected, from the latest connection:
 * events published while it is away are kept by libmosquitto and sent once it is back, so a
 * second copy asked for meanwhile would reach subscribers twice. */
static void
bridge_tick_cb(uv_timer_t *t)
{
	struct bridge *b = t->data;
	uint64_t mono = util_mono_ms(), now = util_now_ms();
	struct spool_entry *e = b->spool.table.live.head, *next;
	int connected = mqtt_is_connected(b->mqtt);

	for (; e != NULL; e = next) {
		next = e->next;
		if (now > e->deadline_ms + BRIDGE_GIVE_UP_MS) {
			struct msg_event ev;

			event_init(&ev, e->id, "", EVENT_FAILED, "no answer from the player");
			activity_event(b->activity, &ev, 0, bridge_request_of(e), now);
			bridge_publish_event(b, &ev, NULL);
			b->gave_up++;
			bridge_complete(b, e);
		} else if (e->acked && connected &&
			   mono - max_u64(e->acked_mono, b->connected_mono) >= b->puback_wait_ms) {
			log_warnx("%s: the broker did not take its events; asking playerd again",
			          e->id);
			bridge_pending_drop(b, e->id);
			e->acked = 0;
			b->inflight++;
			e->pending = 0;
			free(e->reported);
			e->reported = NULL;
			e->nreported = 0;
			bridge_deliver(b, e);
		} else if (e->sends > 0 && !e->acked && mono - e->sent_mono >= BRIDGE_RESEND_MS) {
			bridge_deliver(b, e);
		}
	}
	bridge_fill(b);
	spool_maintain(&b->spool, now);
	hass_tick(b->hass, now, connected);
}

/* nng thread: a pipe to playerd came up (playerd started or restarted). */
static void
bridge_playerd_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct bridge *b = arg;

	(void)p;
	(void)ev;
	if (!atomic_load(&b->closing))
		uv_async_send(&b->playerd_up);
}

/* Whatever was on its way to an earlier playerd may be lost with it: send every request it
 * has not answered. Requests it is already working on are recognised there by id. */
static void
bridge_playerd_up_cb(uv_async_t *a)
{
	struct bridge *b = a->data;
	size_t n = 0;

	for (struct spool_entry *e = b->spool.table.live.head; e != NULL && e != b->unsent;
	     e = e->next) {
		if (e->acked)
			continue;
		bridge_deliver(b, e);
		n++;
	}
	if (n > 0)
		log_info("playerd connected: %zu unfinished requests sent again", n);
	bridge_fill(b);
}

void
bridge_facts(const struct bridge *b, struct strbuf *out)
{
	struct mqtt_status st;

	mqtt_get_status(b->mqtt, &st);
	strbuf_printf(out,
		      ",\"session_present\":%s,"
		      "\"sessions_lost\":%u,\"session_lost_ms\":%llu,\"twin_suspected\":%s,"
		      "\"refusals\":%u,\"spool_depth\":%zu,\"spool_done\":%zu,\"spool_bytes\":%llu,"
		      "\"spool_failing\":%s,\"accepted\":%lu,\"repeats\":%lu,\"completed\":%lu,"
		      "\"resent\":%lu,\"gave_up\":%lu,\"playerd_connected\":%s",
		      st.session_present < 0 ? "null" : st.session_present ? "true" : "false",
		      st.sessions_lost, (unsigned long long)st.session_lost_ms,
		      st.twin_suspected ? "true" : "false", st.refusals, b->spool.table.live.count,
		      b->spool.table.done.count, (unsigned long long)b->spool.journal.size,
		      b->spool.failing ? "true" : "false", b->accepted, b->repeats, b->completed,
		      b->resent, b->gave_up,
		      b->open_playerd && bus_link_pipes(b->to_playerd) > 0 ? "true" : "false");
	activity_facts(b->activity, out);
}

/* A test announcement from the status page (httpd): taken exactly like a message on
 * <base>/<target>/tts, so it is spooled before anything else happens to it. */
static void
bridge_web_request(struct bridge *b, const struct msg_web_request *w)
{
	char topic[BRIDGE_TOPIC_MAX], fallback[MSG_ID_MAX];
	struct request_result res;

	if (!request_target_valid(w->target, strlen(w->target))) {
		log_warnx("status page request for a bad target from %s", w->peer);
		return;
	}
	snprintf(topic, sizeof(topic), "%s/%s/tts", b->cfg->base_topic, w->target);
	request_derive_id(topic, w->payload, w->payload_len, 0, fallback);
	request_parse(&b->limits, REQUEST_TTS, w->target, w->payload, w->payload_len, fallback,
	              util_now_ms(), &res);
	if (res.req == NULL) {
		log_warnx("%s: status page request from %s rejected: %s", res.id, w->peer,
		          res.reason);
		bridge_answer(b, REQUEST_TTS, res.id, w->target, EVENT_REJECTED, res.reason);
	} else {
		log_info("%s: test announcement from the status page (%s)", res.id, w->peer);
		bridge_accept(b, &res, topic);
	}
	free(res.req);
}

static void
bridge_inbox_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct bridge *b = ctx;

	switch (hdr->type) {
	case MSG_EVENT:
		bridge_event(b, payload);
		break;
	case MSG_REQUEST_ACK:
		bridge_request_ack(b, payload);
		break;
	case MSG_SPEAKER_STATE:
		bridge_speaker_state(b, payload);
		break;
	case MSG_WEB_REQUEST:
		bridge_web_request(b, payload);
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
		if (!b->have_table)
			bridge_publish_info(b, 0); /* no discoveryd: the info without speakers */
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
	uv_close((uv_handle_t *)&b->deliver_timer, NULL);
	uv_close((uv_handle_t *)&b->state_timer, NULL);
	atomic_store(&b->closing, 1);
	if (b->open_playerd)
		bus_pipe_notify(b->to_playerd, NNG_PIPE_EV_ADD_POST, NULL, NULL);
	uv_close((uv_handle_t *)&b->playerd_up, NULL);
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
	uv_timer_stop(&b->state_timer);
	bridge_state_flush(b, UINT64_MAX); /* what a burst held back goes out first */
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
	if (bus_reader_start(&b->inbox_reader, b->loop, b->inbox, "inbox", bridge_inbox_cb, b) < 0)
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
	if ((rv = bus_pipe_notify(b->to_playerd, NNG_PIPE_EV_ADD_POST, bridge_playerd_pipe_cb,
	                          b)) != 0)
		log_warnx("playerd.ipc: pipe notification: %s", nng_strerror(rv));
	if ((rv = bus_push_dial(&b->to_discoveryd, rundir, "discoveryd")) != 0) {
		log_errorx("discoveryd.ipc: %s", nng_strerror(rv));
		return -1;
	}
	b->open_discoveryd = 1;
	return 0;
}

/* Home Assistant discovery configurations are retained. */
static void
bridge_hass_publish(void *ctx, const char *topic, const char *payload, size_t len)
{
	struct bridge *b = ctx;

	mqtt_publish(b->mqtt, topic, payload, len, 1);
}

int
bridge_start(struct bridge *b, uv_loop_t *loop, const struct config *cfg, const char *client_id)
{
	const struct mqtt_handlers handlers = {bridge_connected, bridge_message, bridge_stopped,
	                                       bridge_published};
	static char marker[CONFIG_STR_MAX + 32];
	char err[256];
	size_t n = 0;
	struct mqtt_options opt = {0};
	const char *base = cfg->base_topic, *knob;

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->loop = loop;
	msg_strlcpy(b->client_id, client_id, sizeof(b->client_id));
	b->limits.max_text_length = cfg->max_text_length;
	b->limits.expiry_s = cfg->request_expiry_s;
	b->puback_wait_ms = BRIDGE_PUBACK_WAIT_MS;
	/* For tests only, not a setting: a shorter wait, so an outage longer than it is quick
	 * to reproduce (tests/e2e/test_chaos.py). */
	if ((knob = getenv("SB_TEST_PUBACK_WAIT_MS")) != NULL && atol(knob) > 0)
		b->puback_wait_ms = (uint64_t)atol(knob);
	snprintf(b->topic_state, sizeof(b->topic_state), "%s/bridge/state", base);
	snprintf(b->topic_info, sizeof(b->topic_info), "%s/bridge/info", base);
	snprintf(b->topic_event, sizeof(b->topic_event), "%s/bridge/event", base);
	b->online = calloc(1, sizeof(*b->online));
	b->gone = calloc(1, sizeof(*b->gone));
	b->hass = hass_new(cfg, SB_VERSION, bridge_hass_publish, b, util_now_ms());
	b->activity = calloc(1, sizeof(*b->activity));
	b->stateout = calloc(1, sizeof(*b->stateout));
	if (b->online == NULL || b->gone == NULL || b->hass == NULL || b->activity == NULL ||
	    b->stateout == NULL) {
		log_errorx("out of memory");
		return -1;
	}
	/* The spool first: a request must never be taken from the broker without it. */
	if (spool_open(&b->spool, cfg->state_dir, err, sizeof(err)) < 0) {
		log_errorx("spool: %s", err);
		return -1;
	}
	b->have_spool = 1;
	uv_async_init(loop, &b->playerd_up, bridge_playerd_up_cb);
	b->playerd_up.data = b;
	if (bridge_bus_start(b) < 0)
		return -1;
	n = b->spool.table.live.count;
	b->unsent = b->spool.table.live.head;
	bridge_fill(b);
	if (n > 0)
		log_info("%zu requests from the spool to deliver", n);

	uv_timer_init(loop, &b->query_timer);
	uv_timer_init(loop, &b->deliver_timer);
	uv_timer_init(loop, &b->state_timer);
	b->deliver_timer.data = b->state_timer.data = b;
	uv_timer_start(&b->deliver_timer, bridge_tick_cb, BRIDGE_TICK_MS, BRIDGE_TICK_MS);
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
	snprintf(marker, sizeof(marker), "%s/mqtt-session", cfg->state_dir);
	opt.session_marker = marker;
	opt.cfg = cfg;
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
	if (b->have_spool) {
		journal_sync(&b->spool.journal);
		log_info("spool: %zu requests left to deliver at the next start",
		         b->spool.table.live.count);
		spool_close(&b->spool);
	}
	free(b->pending);
	free(b->table);
	free(b->online);
	free(b->gone);
	free(b->info);
	for (size_t i = 0; i < b->nstates; i++)
		free(b->states[i].json);
	free(b->states);
	hass_free(b->hass);
	free(b->activity);
	if (b->stateout != NULL)
		stateout_free(b->stateout);
	free(b->stateout);
	memset(b, 0, sizeof(*b));
}
