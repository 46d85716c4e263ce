/* control.c -- control commands on a speaker: group actions on the coordinator, volume and
 * mute on the member itself, one SOAP call per step, the first failure reported in words. */
#include "announce.h"
#include "log.h"
#include "sonos.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const struct soap_arg inst[] = {{"InstanceID", "0"}};
static const struct soap_arg inst_play[] = {{"InstanceID", "0"}, {"Speed", "1"}};

/* One step; on failure records the error and returns -1 so the rest is skipped. */
static int
step(struct announcement *a, const struct msg_speaker *sp, enum soap_service svc,
     const char *action, const struct soap_arg *args, int nargs)
{
	char err[256];

	if (sonos_call(sp, svc, action, args, nargs, NULL, err, sizeof(err)) == 0)
		return 0;
	a->status = EVENT_FAILED;
	msg_strlcpy(a->error, err, sizeof(a->error));
	return -1;
}

static int
transport(struct announcement *a, enum command_transport t)
{
	const struct msg_speaker *co = &a->coordinator;
	struct soap_result r;
	char err[256];
	int playing;

	switch (t) {
	case COMMAND_NONE:
		return 0;
	case COMMAND_PLAY:
		return step(a, co, SOAP_AVTRANSPORT, "Play", inst_play, 2);
	case COMMAND_PAUSE:
		return step(a, co, SOAP_AVTRANSPORT, "Pause", inst, 1);
	case COMMAND_STOP:
		return step(a, co, SOAP_AVTRANSPORT, "Stop", inst, 1);
	case COMMAND_NEXT:
		return step(a, co, SOAP_AVTRANSPORT, "Next", inst, 1);
	case COMMAND_PREVIOUS:
		return step(a, co, SOAP_AVTRANSPORT, "Previous", inst, 1);
	case COMMAND_TOGGLE:
		if (sonos_call(co, SOAP_AVTRANSPORT, "GetTransportInfo", inst, 1, &r, err,
			       sizeof(err)) != 0) {
			a->status = EVENT_FAILED;
			msg_strlcpy(a->error, err, sizeof(a->error));
			return -1;
		}
		playing = soap_value(&r, "CurrentTransportState") != NULL &&
			  strcmp(soap_value(&r, "CurrentTransportState"), "PLAYING") == 0;
		soap_result_free(&r);
		return playing ? step(a, co, SOAP_AVTRANSPORT, "Pause", inst, 1)
			       : step(a, co, SOAP_AVTRANSPORT, "Play", inst_play, 2);
	}
	return 0;
}

void
control_run(struct announcement *a)
{
	const struct command *c = a->cmd;
	const struct msg_speaker *sp = &a->speaker, *co = &a->coordinator;
	char value[COMMAND_URI_MAX + 16];

	a->status = EVENT_DONE;
	a->error[0] = '\0';
	/* Right before acting: a command queued behind a long announcement may be late. */
	if (util_now_ms() > a->req->deadline_ms) {
		a->status = EVENT_EXPIRED;
		msg_strlcpy(a->error, "expired before it could run", sizeof(a->error));
		return;
	}
	if (c->leave && step(a, sp, SOAP_AVTRANSPORT, "BecomeCoordinatorOfStandaloneGroup", inst,
			     1) < 0)
		return;
	if (a->join_uuid[0] != '\0') {
		struct soap_arg args[] = {
			{"InstanceID", "0"}, {"CurrentURI", value}, {"CurrentURIMetaData", ""}};

		snprintf(value, sizeof(value), "x-rincon:%s", a->join_uuid);
		if (step(a, sp, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3) < 0)
			return;
	}
	if (c->uri[0] != '\0') {
		struct soap_arg args[] = {
			{"InstanceID", "0"}, {"CurrentURI", c->uri}, {"CurrentURIMetaData", c->metadata}};

		if (step(a, co, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3) < 0)
			return;
	}
	if (c->has_volume) {
		struct soap_arg abs[] = {{"InstanceID", "0"}, {"Channel", "Master"},
					 {"DesiredVolume", value}};
		struct soap_arg rel[] = {{"InstanceID", "0"}, {"Channel", "Master"},
					 {"Adjustment", value}};

		snprintf(value, sizeof(value), "%d", c->volume);
		if (step(a, sp, SOAP_RENDERING, c->volume_relative ? "SetRelativeVolume" : "SetVolume",
			 c->volume_relative ? rel : abs, 3) < 0)
			return;
	}
	if (c->has_mute) {
		struct soap_arg args[] = {{"InstanceID", "0"}, {"Channel", "Master"},
					  {"DesiredMute", c->mute ? "1" : "0"}};

		if (step(a, sp, SOAP_RENDERING, "SetMute", args, 3) < 0)
			return;
	}
	if (c->track > 0) {
		struct soap_arg args[] = {{"InstanceID", "0"}, {"Unit", "TRACK_NR"}, {"Target", value}};

		snprintf(value, sizeof(value), "%d", c->track);
		if (step(a, co, SOAP_AVTRANSPORT, "Seek", args, 3) < 0)
			return;
	}
	if (c->seek[0] != '\0') {
		struct soap_arg args[] = {{"InstanceID", "0"}, {"Unit", "REL_TIME"}, {"Target", c->seek}};

		if (step(a, co, SOAP_AVTRANSPORT, "Seek", args, 3) < 0)
			return;
	}
	/* A new URI starts playing unless the command says otherwise. */
	if (transport(a, c->uri[0] != '\0' && c->transport == COMMAND_NONE ? COMMAND_PLAY
									    : c->transport) < 0)
		return;
	log_debug("%s: command %s done", sp->room, a->req->id);
}
