/* event.c -- the JSON mqttd publishes: request events and the bridge info. Pure, no I/O. */
#include "event.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
event_init(struct msg_event *ev, const char *id, const char *target, enum event_status status,
	   const char *error)
{
	memset(ev, 0, sizeof(*ev));
	msg_strlcpy(ev->id, id != NULL ? id : "", sizeof(ev->id));
	msg_strlcpy(ev->target, target != NULL ? target : "", sizeof(ev->target));
	ev->status = (uint8_t)status;
	msg_strlcpy(ev->error, error != NULL ? error : "", sizeof(ev->error));
}

int
event_timestamp(uint64_t ms, char *out, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	int n;

	if (gmtime_r(&secs, &tm) == NULL)
		return -1;
	n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (unsigned)(ms % 1000));
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A JSON string for a fixed-size field that may hold anything a peer sent. */
static json_t *
json_text(const char *s, size_t max)
{
	size_t len = strnlen(s, max);
	char *copy;
	json_t *j;

	if (util_utf8_valid(s, len))
		return json_stringn(s, len);
	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	j = json_stringn(copy, len);
	free(copy);
	return j;
}

/* Set key in obj to a string made by json_text; 0 or -1. */
static int
set_text(json_t *obj, const char *key, const char *s, size_t max)
{
	return json_object_set_new(obj, key, json_text(s, max));
}

char *
event_json(const struct msg_event *ev, uint64_t now_ms)
{
	json_t *o = json_object();
	char ts[32];
	char *out = NULL;
	int rv = 0;

	if (o == NULL)
		return NULL;
	rv |= set_text(o, "id", ev->id, sizeof(ev->id));
	rv |= set_text(o, "target", ev->target, sizeof(ev->target));
	rv |= set_text(o, "speaker", ev->speaker, sizeof(ev->speaker));
	rv |= set_text(o, "uuid", ev->uuid, sizeof(ev->uuid));
	rv |= json_object_set_new(o, "status", json_string(event_status_name(ev->status)));
	if (ev->duration_ms > 0)
		rv |= json_object_set_new(o, "duration_ms", json_integer(ev->duration_ms));
	if (ev->error[0] != '\0')
		rv |= set_text(o, "error", ev->error, sizeof(ev->error));
	if (event_timestamp(now_ms, ts, sizeof(ts)) == 0)
		rv |= json_object_set_new(o, "timestamp", json_string(ts));
	if (rv == 0)
		out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

/* One speaker of the info document. */
static json_t *
info_speaker(const struct msg_speaker *s)
{
	json_t *o = json_object();
	char slug[MSG_TARGET_MAX];
	int rv = 0;

	if (o == NULL)
		return NULL;
	if (util_slug(s->room, slug, sizeof(slug)) < 0)
		slug[0] = '\0';
	rv |= set_text(o, "name", s->room, sizeof(s->room));
	rv |= set_text(o, "uuid", s->uuid, sizeof(s->uuid));
	rv |= set_text(o, "ip", s->ip, sizeof(s->ip));
	rv |= set_text(o, "model", s->model, sizeof(s->model));
	rv |= set_text(o, "topic", slug, sizeof(slug));
	if (rv != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *
event_info_json(const char *version, const char *client_id, const struct msg_speaker *sp,
		size_t count)
{
	json_t *o = json_object(), *list = json_array();
	char *out = NULL;
	int rv = 0;

	if (o == NULL || list == NULL) {
		json_decref(o);
		json_decref(list);
		return NULL;
	}
	rv |= set_text(o, "version", version, 64);
	rv |= set_text(o, "client_id", client_id, 128);
	for (size_t i = 0; i < count && rv == 0; i++)
		rv |= json_array_append_new(list, info_speaker(&sp[i]));
	rv |= json_object_set_new(o, "speakers", list);
	if (rv == 0)
		out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}
