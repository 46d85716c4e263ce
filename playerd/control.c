/* control.c -- control commands on a speaker: group actions on the coordinator, volume and
 * mute on the member itself, one SOAP call per step, the first failure reported in words.
 * A join or leave changes the coordinator for the steps after it. */
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
transport(struct announcement *a, const struct msg_speaker *co, enum command_transport t)
{
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

/* Leave or join as the command asks. Returns the coordinator for the steps that follow (the
 * speaker itself after a leave, the joined group's after a join), NULL on failure. */
static const struct msg_speaker *
regroup(struct announcement *a)
{
	const struct msg_speaker *sp = &a->speaker;
	char uri[64];
	struct soap_arg args[] = {
	    {"InstanceID", "0"}, {"CurrentURI", uri}, {"CurrentURIMetaData", ""}};

	if (a->cmd->leave) {
		static const char *leave = "BecomeCoordinatorOfStandaloneGroup";

		return step(a, sp, SOAP_AVTRANSPORT, leave, inst, 1) == 0 ? sp : NULL;
	}
	if (a->join_to.uuid[0] != '\0') {
		snprintf(uri, sizeof(uri), "x-rincon:%s", a->join_to.uuid);
		if (step(a, sp, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3) < 0)
			return NULL;
		return &a->join_to;
	}
	return &a->coordinator;
}

/* Volume and mute, on the speaker itself. */
static int
rendering(struct announcement *a)
{
	const struct command *c = a->cmd;
	const struct msg_speaker *sp = &a->speaker;
	char value[16];
	struct soap_arg abs[] = {
	    {"InstanceID", "0"}, {"Channel", "Master"}, {"DesiredVolume", value}};
	struct soap_arg rel[] = {{"InstanceID", "0"}, {"Channel", "Master"}, {"Adjustment", value}};
	struct soap_arg mute[] = {
	    {"InstanceID", "0"}, {"Channel", "Master"}, {"DesiredMute", c->mute ? "1" : "0"}};

	snprintf(value, sizeof(value), "%d", c->volume);
	if (c->has_volume &&
	    step(a, sp, SOAP_RENDERING, c->volume_relative ? "SetRelativeVolume" : "SetVolume",
	         c->volume_relative ? rel : abs, 3) < 0)
		return -1;
	if (c->has_mute && step(a, sp, SOAP_RENDERING, "SetMute", mute, 3) < 0)
		return -1;
	return 0;
}

void
control_run(struct announcement *a)
{
	const struct command *c = a->cmd;
	const struct msg_speaker *sp = &a->speaker, *co;
	char value[16];

	a->status = EVENT_DONE;
	a->error[0] = '\0';
	/* Right before acting: a command queued behind a long announcement may be late. */
	if (util_now_ms() > a->req->deadline_ms) {
		a->status = EVENT_EXPIRED;
		msg_strlcpy(a->error, "expired before it could run", sizeof(a->error));
		return;
	}
	if (a->own_only) { /* its coordinator runs the group's part */
		rendering(a);
		return;
	}
	if ((co = regroup(a)) == NULL)
		return;
	if (c->uri[0] != '\0') {
		struct soap_arg args[] = {{"InstanceID", "0"},
		                          {"CurrentURI", c->uri},
		                          {"CurrentURIMetaData", c->metadata}};

		if (step(a, co, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3) < 0)
			return;
	}
	if (rendering(a) < 0)
		return;
	if (c->track > 0) {
		struct soap_arg args[] = {
		    {"InstanceID", "0"}, {"Unit", "TRACK_NR"}, {"Target", value}};

		snprintf(value, sizeof(value), "%d", c->track);
		if (step(a, co, SOAP_AVTRANSPORT, "Seek", args, 3) < 0)
			return;
	}
	if (c->seek[0] != '\0') {
		struct soap_arg args[] = {
		    {"InstanceID", "0"}, {"Unit", "REL_TIME"}, {"Target", c->seek}};

		if (step(a, co, SOAP_AVTRANSPORT, "Seek", args, 3) < 0)
			return;
	}
	/* A new URI starts playing unless the command says otherwise. */
	if (transport(a, co,
	              c->uri[0] != '\0' && c->transport == COMMAND_NONE ? COMMAND_PLAY
	                                                                : c->transport) < 0)
		return;
	log_debug("%s: command %s done", sp->room, a->req->id);
}
