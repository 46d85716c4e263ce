/* activity.c -- request outcomes, announcement latency, the last announcements and speaker
 * states, kept by mqttd and reported in its health facts. */
#include "activity.h"
#include "health.h"
#include "strbuf.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const uint32_t activity_latency_bounds[ACTIVITY_LATENCY_BUCKETS] = {
    250, 500, 1000, 2000, 3000, 5000, 10000, 30000, 60000,
};

static const char *const kind_names[ACT_KINDS] = {"tts", "clip", "set", "other"};
static const char *const outcome_names[ACT_OUTCOMES] = {"done", "failed", "expired", "rejected"};

static int
outcome_of(unsigned status)
{
	switch (status) {
	case EVENT_DONE:
		return ACT_DONE;
	case EVENT_FAILED:
		return ACT_FAILED;
	case EVENT_EXPIRED:
		return ACT_EXPIRED;
	case EVENT_REJECTED:
		return ACT_REJECTED;
	default:
		return -1;
	}
}

static enum activity_kind
kind_of(unsigned kind, const struct msg_request *req)
{
	switch (req != NULL ? req->kind : kind) {
	case REQUEST_TTS:
		return ACT_TTS;
	case REQUEST_CLIP:
		return ACT_CLIP;
	case REQUEST_SET:
		return ACT_SET;
	default:
		return ACT_OTHER;
	}
}

/* Copy at most max bytes of src[0..len) to dst, cut at a UTF-8 character boundary, with
 * control characters as spaces. */
static void
copy_text(char *dst, size_t max, const char *src, size_t len)
{
	size_t n = len < max ? len : max;

	while (n > 0 && n < len && ((unsigned char)src[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	dst[n] = '\0';
}

static struct activity_recent *
recent_find(struct activity *a, const char *id, const char *uuid)
{
	for (size_t k = 0; k < a->recent_count; k++) {
		size_t i = (a->recent_head + ACTIVITY_RECENT - 1 - k) % ACTIVITY_RECENT;
		struct activity_recent *r = &a->recent[i];

		if (strcmp(r->id, id) != 0)
			continue;
		/* The first event of a request may come before its speaker is known. */
		if (strcmp(r->uuid, uuid) == 0 || r->uuid[0] == '\0')
			return r;
	}
	return NULL;
}

static struct activity_recent *
recent_add(struct activity *a)
{
	struct activity_recent *r = &a->recent[a->recent_head];

	a->recent_head = (a->recent_head + 1) % ACTIVITY_RECENT;
	if (a->recent_count < ACTIVITY_RECENT)
		a->recent_count++;
	memset(r, 0, sizeof(*r));
	return r;
}

void
activity_event(struct activity *a, const struct msg_event *ev, unsigned request_kind,
               const struct msg_request *req, uint64_t now_ms)
{
	enum activity_kind kind = kind_of(request_kind, req);
	int outcome = outcome_of(ev->status);
	struct activity_recent *r;

	if (outcome >= 0)
		a->outcomes[kind][outcome]++;
	if (kind != ACT_TTS && kind != ACT_CLIP)
		return;
	if (ev->status == EVENT_PLAYING && req != NULL && req->received_ms > 0 &&
	    now_ms >= req->received_ms) {
		uint64_t ms = now_ms - req->received_ms;
		size_t b = 0;

		while (b < ACTIVITY_LATENCY_BUCKETS && ms > activity_latency_bounds[b])
			b++;
		a->latency[b]++;
		a->latency_sum_ms += ms;
		a->latency_count++;
	}
	if ((r = recent_find(a, ev->id, ev->uuid)) == NULL) {
		r = recent_add(a);
		msg_strlcpy(r->id, ev->id, sizeof(r->id));
		msg_strlcpy(r->target, ev->target[0] || req == NULL ? ev->target : req->target,
		            sizeof(r->target));
		r->kind = (uint8_t)kind;
		if (req != NULL)
			copy_text(r->text, ACTIVITY_TEXT_MAX, req->text, req->text_len);
		r->received_ms = req != NULL ? req->received_ms : now_ms;
	}
	if (ev->speaker[0] != '\0')
		msg_strlcpy(r->speaker, ev->speaker, sizeof(r->speaker));
	if (ev->uuid[0] != '\0')
		msg_strlcpy(r->uuid, ev->uuid, sizeof(r->uuid));
	r->status = ev->status;
	copy_text(r->error, sizeof(r->error) - 1, ev->error, strlen(ev->error));
	r->updated_ms = now_ms;
}

void
activity_state(struct activity *a, const char *uuid, const char *room, const char *json, size_t len)
{
	struct activity_speaker *s = NULL;
	json_t *doc = json_loadb(json, len, 0, NULL), *v, *track;
	const char *title, *artist;

	if (!json_is_object(doc) || uuid[0] == '\0') {
		json_decref(doc);
		return;
	}
	for (size_t i = 0; i < a->nspeakers; i++)
		if (strcmp(a->speakers[i].uuid, uuid) == 0)
			s = &a->speakers[i];
	if (s == NULL) {
		if (a->nspeakers == ACTIVITY_SPEAKERS)
			memmove(&a->speakers[0], &a->speakers[1],
			        (ACTIVITY_SPEAKERS - 1) * sizeof(a->speakers[0]));
		else
			a->nspeakers++;
		s = &a->speakers[a->nspeakers - 1];
		msg_strlcpy(s->uuid, uuid, sizeof(s->uuid));
	}
	msg_strlcpy(s->room, room, sizeof(s->room));
	v = json_object_get(doc, "transport");
	msg_strlcpy(s->transport, json_is_string(v) ? json_string_value(v) : "",
	            sizeof(s->transport));
	v = json_object_get(doc, "volume");
	s->volume = json_is_integer(v) ? (int)json_integer_value(v) : -1;
	v = json_object_get(doc, "mute");
	s->mute = json_is_boolean(v) ? json_is_true(v) : -1;
	track = json_object_get(doc, "track");
	title = json_string_value(json_object_get(track, "title"));
	artist = json_string_value(json_object_get(track, "artist"));
	s->track[0] = '\0';
	if (title != NULL && artist != NULL && artist[0] != '\0')
		snprintf(s->track, sizeof(s->track), "%s - %s", artist, title);
	else if (title != NULL)
		snprintf(s->track, sizeof(s->track), "%s", title);
	copy_text(s->track, sizeof(s->track) - 1, s->track, strlen(s->track));
	json_decref(doc);
}

static void
facts_counts(const struct activity *a, struct strbuf *b)
{
	strbuf_puts(b, "\"requests\":{");
	for (int k = 0; k < ACT_KINDS; k++) {
		strbuf_printf(b, "%s\"%s\":{", k ? "," : "", kind_names[k]);
		for (int o = 0; o < ACT_OUTCOMES; o++)
			strbuf_printf(b, "%s\"%s\":%lu", o ? "," : "", outcome_names[o],
			              a->outcomes[k][o]);
		strbuf_puts(b, "}");
	}
	strbuf_puts(b, "},\"latency_ms\":{\"bounds\":[");
	for (int i = 0; i < ACTIVITY_LATENCY_BUCKETS; i++)
		strbuf_printf(b, "%s%u", i ? "," : "", activity_latency_bounds[i]);
	strbuf_puts(b, "],\"counts\":[");
	for (int i = 0; i <= ACTIVITY_LATENCY_BUCKETS; i++)
		strbuf_printf(b, "%s%lu", i ? "," : "", a->latency[i]);
	strbuf_printf(b, "],\"sum\":%llu,\"count\":%lu}", (unsigned long long)a->latency_sum_ms,
	              a->latency_count);
}

static void
facts_recent(const struct activity *a, struct strbuf *b)
{
	strbuf_puts(b, ",\"recent\":[");
	for (size_t k = 0; k < a->recent_count; k++) {
		const struct activity_recent *r =
		    &a->recent[(a->recent_head + ACTIVITY_RECENT - 1 - k) % ACTIVITY_RECENT];

		strbuf_puts(b, k ? ",{\"id\":" : "{\"id\":");
		health_json_string(b, r->id);
		strbuf_printf(b, ",\"kind\":\"%s\",\"target\":", kind_names[r->kind]);
		health_json_string(b, r->target);
		strbuf_puts(b, ",\"speaker\":");
		health_json_string(b, r->speaker);
		strbuf_puts(b, ",\"uuid\":");
		health_json_string(b, r->uuid);
		strbuf_puts(b, ",\"text\":");
		health_json_string(b, r->text);
		strbuf_printf(b, ",\"status\":\"%s\",\"error\":", event_status_name(r->status));
		health_json_string(b, r->error);
		strbuf_printf(b, ",\"received_ms\":%llu,\"updated_ms\":%llu}",
		              (unsigned long long)r->received_ms,
		              (unsigned long long)r->updated_ms);
	}
	strbuf_puts(b, "]");
}

static void
facts_speakers(const struct activity *a, struct strbuf *b)
{
	strbuf_puts(b, ",\"speakers\":[");
	for (size_t i = 0; i < a->nspeakers && i < ACTIVITY_FACTS_SPEAKERS; i++) {
		const struct activity_speaker *s = &a->speakers[i];

		strbuf_puts(b, i ? ",{\"uuid\":" : "{\"uuid\":");
		health_json_string(b, s->uuid);
		strbuf_puts(b, ",\"room\":");
		health_json_string(b, s->room);
		strbuf_puts(b, ",\"transport\":");
		health_json_string(b, s->transport);
		if (s->volume >= 0)
			strbuf_printf(b, ",\"volume\":%d", s->volume);
		else
			strbuf_puts(b, ",\"volume\":null");
		strbuf_printf(b, ",\"mute\":%s,\"track\":",
		              s->mute < 0 ? "null"
		              : s->mute   ? "true"
		                          : "false");
		health_json_string(b, s->track);
		strbuf_puts(b, "}");
	}
	strbuf_puts(b, "]");
}

void
activity_facts(const struct activity *a, struct strbuf *out)
{
	struct strbuf b = STRBUF_INIT;

	/* Everything; else without the speakers; else the counts alone, which always fit. */
	for (int level = 0; level < 3; level++) {
		strbuf_free(&b);
		b.max = ACTIVITY_FACTS_MAX;
		strbuf_puts(&b, ",\"activity\":{");
		facts_counts(a, &b);
		if (level < 2)
			facts_recent(a, &b);
		if (level < 1)
			facts_speakers(a, &b);
		strbuf_puts(&b, level > 0 ? ",\"truncated\":true}" : "}");
		if (!b.failed)
			break;
	}
	if (!b.failed && b.s != NULL)
		strbuf_append(out, b.s, b.len);
	strbuf_free(&b);
}
