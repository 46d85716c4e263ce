/* announce.h -- one announcement on one speaker: clip, snapshot, play, wait, restore. */
#ifndef SB_ANNOUNCE_H
#define SB_ANNOUNCE_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "command.h"
#include "config.h"
#include "msg.h"

/* What announcement threads share; read-only but for `stopping`. */
struct player_ctx {
	const struct config *cfg;
	nng_socket httpd;    /* REQ to httpd.rep: clip synthesis */
	nng_socket events;   /* PUSH to mqttd's inbox */
	atomic_int stopping; /* set on SIGTERM: waits end early */
};

/* Kind of source a speaker was playing, which decides how it is restored. */
enum source_kind {
	SOURCE_NONE,    /* nothing set */
	SOURCE_QUEUE,   /* x-rincon-queue: track and position restored with Seek */
	SOURCE_STREAM,  /* radio and other streams: URI + metadata, no Seek */
	SOURCE_LINE_IN, /* x-rincon-stream: URI, empty metadata, no Seek */
	SOURCE_TV,      /* x-sonos-htastream: URI, no Seek, no Pause */
	SOURCE_GROUP,   /* x-rincon:<coordinator>: rejoin */
	SOURCE_OTHER,   /* a plain file URL and the like: URI + metadata */
};

/* Pure: classify a transport URI. */
enum source_kind source_classify(const char *uri);
const char *source_kind_name(enum source_kind kind);
/* Pure: 1 if uri is one of this bridge's own clips (left behind by an earlier announcement):
 * nothing to restore then. */
int source_is_own_clip(const char *uri, int http_port);
/* Pure: the MIME type a clip URL's extension suggests (before any query); audio/mpeg if none. */
const char *source_mime_from_url(const char *url);

/* The speaker's state before the announcement, as far as it could be read. */
#define GROUP_MAX 16 /* members of one group handled by an announcement */

/* Volume state of one group member; saved and restored per member, never the coordinator's. */
struct member_volume {
	int have_volume, have_mute;
	int volume;
	int mute;
	int output_fixed; /* GetOutputFixed: volume cannot be changed (line-level out) */
};

/* The group's state before the announcement, as far as it could be read. Transport state is
 * the coordinator's; volumes are per member, in the order of announcement.members. */
struct snapshot {
	int have_media, have_transport, have_position;
	int media_too_long; /* URI or metadata larger than the fields below: not restored */
	char uri[MSG_CLIP_URL_MAX + 1];
	char metadata[8192];
	enum source_kind kind;
	char transport_state[32]; /* PLAYING, PAUSED_PLAYBACK, STOPPED, TRANSITIONING */
	int have_play_mode;       /* queues only: shuffle and repeat go with them */
	char play_mode[24];       /* GetTransportSettings: NORMAL, SHUFFLE, REPEAT_ALL, ... */
	int track;                /* 1-based queue position */
	char rel_time[16];        /* H:MM:SS */
	struct member_volume members[GROUP_MAX];
};

/* One group as it was before a grouped announcement to all speakers. */
struct announce_group {
	struct msg_speaker coordinator;
	struct msg_speaker members[GROUP_MAX]; /* coordinator first */
	int nmembers;
};

#define ALL_GROUPS_MAX 32

/* `all` in grouped mode: every group joins one coordinator for one synchronized stream. */
struct announce_all {
	int ngroups;
	struct announce_group groups[ALL_GROUPS_MAX];
};

struct announcement {
	struct announcement *next; /* in its speaker's queue */
	struct speaker_queue *queue;
	uv_work_t work;
	struct player_ctx *ctx;
	struct msg_request *req;        /* owned copy of the request */
	struct msg_speaker speaker;     /* the target, copied when it was resolved */
	struct msg_speaker coordinator; /* its group's coordinator (transport actions go there) */
	struct msg_speaker members[GROUP_MAX]; /* the group's visible members, coordinator first */
	int nmembers;
	struct command *cmd;        /* REQUEST_SET: the parsed command, else NULL */
	struct msg_speaker join_to; /* REQUEST_SET with join: the coordinator to join */
	int own_only;               /* REQUEST_SET to all on a group member: its volume, mute */
	struct announce_all *all;   /* grouped announcement to every speaker, else NULL */
	struct snapshot *rescue;    /* a restore left over by a crashed playerd, else NULL */
	uint64_t run_ms;            /* util_mono_ms() when it was handed to the thread pool */
	/* outcome, written by the thread, read in the after-work callback */
	uint8_t status; /* EVENT_DONE, EVENT_FAILED, EVENT_EXPIRED */
	uint32_t duration_ms;
	uint64_t clip_ready_ms; /* util_mono_ms() when httpd answered with the clip */
	char error[256];
	/* playerd stopped it before it changed anything: no outcome, it runs when sent again */
	int not_started;
};

/* Run the whole sequence. Blocking; for a thread-pool thread. Sets a->status and a->error,
 * and sends EVENT_PLAYING itself once the speaker plays. */
void announce_run(struct announcement *a);

/* Run a control command (REQUEST_SET). Blocking; for a thread-pool thread. */
void control_run(struct announcement *a);

/* Send an event about a to mqttd. Thread-safe. */
void announce_event(const struct announcement *a, uint8_t status, const char *error);

/* httpd saw a request for a clip (MSG_CLIP_FETCHED): remembered for a while, so that a
 * speaker that never starts a clip it never asked for is told apart from one that got the clip
 * and did not play it. Thread-safe. */
void announce_clip_fetched(const struct msg_clip_fetched *m);

/* httpd's end of the clip socket went away (it stopped or died): a speaker fetching a clip
 * then may have been cut off, which is no sign of an address it cannot reach. Any thread. */
void announce_httpd_gone(void);

#endif
