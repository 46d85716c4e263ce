/* command.h -- `<base>/<room>/set` payloads: what a control command asks for. Pure parsing,
 * shared by mqttd (which rejects bad commands at once) and playerd (which runs them). */
#ifndef SB_COMMAND_H
#define SB_COMMAND_H

#include <stddef.h>

#include "msg.h"

enum command_transport {
	COMMAND_NONE = 0,
	COMMAND_PLAY,
	COMMAND_PAUSE,
	COMMAND_STOP,
	COMMAND_NEXT,
	COMMAND_PREVIOUS,
	COMMAND_TOGGLE, /* play when paused or stopped, pause when playing */
};

#define COMMAND_URI_MAX 1024
#define COMMAND_METADATA_MAX 4096

/* One command message; several parts may be set and run in the order of the fields. */
struct command {
	char id[MSG_ID_MAX];               /* the publisher's "id", "" when absent */
	int leave;                         /* leave the group: become a standalone player */
	char join[MSG_TARGET_MAX];         /* room slug or UUID whose group to join; "" = none */
	char uri[COMMAND_URI_MAX];         /* play this URI; "" = none */
	char metadata[COMMAND_METADATA_MAX]; /* its DIDL-Lite, optional */
	int has_volume;
	int volume;                        /* 0..100, or -100..100 when volume_relative */
	int volume_relative;
	int has_mute;
	int mute;
	int track;                         /* 1-based queue position to jump to; 0 = none */
	char seek[16];                     /* H:MM:SS position in the track; "" = none */
	enum command_transport transport;
	double expire_after;               /* seconds from arrival; 0 = the configured default */
};

#define COMMAND_EXPIRE_MAX 86400 /* the longest expire_after, seconds (as for tts) */

/* Parse a payload: a JSON object such as {"command":"pause"}, {"volume":30},
 * {"volume":"+5"}, {"mute":true}, {"seek":"0:01:30"} or {"seek":90}, {"track":3},
 * {"join":"living-room"}, {"leave":true}, {"uri":"x-sonosapi-stream:...","metadata":"..."}
 * (several at once are allowed), or a plain word (play, pause, stop, next, previous, toggle,
 * mute, unmute, leave) or a plain volume number. Returns 0, or -1 with a reason. */
int command_parse(const char *buf, size_t len, struct command *cmd, char *reason,
		  size_t reasonlen);

/* 1 if the command asks for nothing at all. */
int command_empty(const struct command *cmd);

/* The "id" string of a JSON object that jansson refused only for a duplicate key, so the
 * rejection still reaches the publisher under its id; "" when there is none. (Should "id"
 * itself be the duplicate, the last one is taken: jansson keeps the last without the check.)
 * The caller validates it as an id. */
void command_duplicate_key_id(const char *buf, size_t len, char *out, size_t outsz);

const char *command_transport_name(enum command_transport t);

#endif
