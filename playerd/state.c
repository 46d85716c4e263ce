/* state.c -- a speaker's state: polled over SOAP, formatted as the retained JSON document. */
#include "state.h"
#include "sonos.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *
text_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

char *
state_json(const struct msg_speaker *sp, const struct msg_speaker *co,
	   const struct speaker_state *st, int position)
{
	json_t *o = json_object(), *track = json_object();
	char *out;

	if (o == NULL || track == NULL) {
		json_decref(o);
		json_decref(track);
		return NULL;
	}
	json_object_set_new(o, "name", json_string(sp->room));
	json_object_set_new(o, "uuid", json_string(sp->uuid));
	json_object_set_new(o, "ip", json_string(sp->ip));
	json_object_set_new(o, "model", json_string(sp->model));
	json_object_set_new(o, "group", text_or_null(sp->group_id));
	json_object_set_new(o, "coordinator", json_string(co->uuid));
	json_object_set_new(o, "coordinator_name", json_string(co->room));
	json_object_set_new(o, "transport", text_or_null(st->transport));
	json_object_set_new(o, "source", json_string(source_kind_name(st->source)));
	json_object_set_new(o, "volume", st->have_volume ? json_integer(st->volume) : json_null());
	json_object_set_new(o, "mute", st->have_mute ? json_boolean(st->mute) : json_null());
	json_object_set_new(track, "title", text_or_null(st->meta.title[0] != '\0'
								 ? st->meta.title
								 : st->meta.stream_content));
	json_object_set_new(track, "artist", text_or_null(st->meta.artist));
	json_object_set_new(track, "album", text_or_null(st->meta.album));
	json_object_set_new(track, "number", st->track > 0 ? json_integer(st->track) : json_null());
	json_object_set_new(track, "duration", text_or_null(st->duration));
	if (position)
		json_object_set_new(track, "position", text_or_null(st->position));
	json_object_set_new(o, "track", track);
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return out;
}

static void
copy(const struct soap_result *r, const char *name, char *out, size_t size)
{
	const char *v = soap_value(r, name);

	msg_strlcpy(out, v != NULL ? v : "", size);
}

int
state_poll(const struct msg_speaker *sp, const struct msg_speaker *co, struct speaker_state *st,
	   char *err, size_t errlen)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	static const struct soap_arg master[] = {{"InstanceID", "0"}, {"Channel", "Master"}};
	struct soap_result r;
	const char *v;

	memset(st, 0, sizeof(*st));
	if (sonos_call(co, SOAP_AVTRANSPORT, "GetTransportInfo", inst, 1, &r, err, errlen) != 0)
		return -1;
	copy(&r, "CurrentTransportState", st->transport, sizeof(st->transport));
	soap_result_free(&r);
	if (sonos_call(co, SOAP_AVTRANSPORT, "GetMediaInfo", inst, 1, &r, err, errlen) == 0) {
		st->source = source_classify(soap_value(&r, "CurrentURI"));
		soap_result_free(&r);
	}
	if (sonos_call(co, SOAP_AVTRANSPORT, "GetPositionInfo", inst, 1, &r, err, errlen) == 0) {
		if ((v = soap_value(&r, "Track")) != NULL)
			st->track = atoi(v);
		copy(&r, "RelTime", st->position, sizeof(st->position));
		copy(&r, "TrackDuration", st->duration, sizeof(st->duration));
		if ((v = soap_value(&r, "TrackMetaData")) != NULL)
			didl_parse_track(v, strlen(v), &st->meta);
		soap_result_free(&r);
	}
	if (sonos_call(sp, SOAP_RENDERING, "GetVolume", master, 2, &r, err, errlen) == 0) {
		if ((v = soap_value(&r, "CurrentVolume")) != NULL) {
			st->have_volume = 1;
			st->volume = atoi(v);
		}
		soap_result_free(&r);
	}
	if (sonos_call(sp, SOAP_RENDERING, "GetMute", master, 2, &r, err, errlen) == 0) {
		if ((v = soap_value(&r, "CurrentMute")) != NULL) {
			st->have_mute = 1;
			st->mute = atoi(v) != 0;
		}
		soap_result_free(&r);
	}
	return 0;
}
