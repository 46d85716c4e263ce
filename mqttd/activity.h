/* activity.h -- what mqttd has seen go by, for the status page and /metrics: request outcomes,
 * announcement latency, the last announcements, each speaker's state in brief. mqttd is the one
 * process every event and state document passes through, so it keeps them; they leave through
 * its health facts (the supervisor's status socket), so no worker gains a new peer. Pure. */
#ifndef MQTTD_ACTIVITY_H
#define MQTTD_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct strbuf;

#define ACTIVITY_RECENT 10         /* last announcements kept */
#define ACTIVITY_SPEAKERS 128      /* speaker states kept */
#define ACTIVITY_FACTS_SPEAKERS 48 /* at most this many in the health facts */
#define ACTIVITY_TEXT_MAX 100      /* bytes of an announcement's text kept */
#define ACTIVITY_FACTS_MAX 16384   /* the facts stay within MSG_HEALTH_FACTS_MAX with the rest */

/* Upper bounds (ms) of the latency histogram's buckets; one more counts the rest. */
#define ACTIVITY_LATENCY_BUCKETS 9
extern const uint32_t activity_latency_bounds[ACTIVITY_LATENCY_BUCKETS];

/* Kinds counted apart: tts, clip, set, and requests rejected before their kind was known. */
enum activity_kind { ACT_TTS, ACT_CLIP, ACT_SET, ACT_OTHER, ACT_KINDS };
/* Terminal outcomes counted. */
enum activity_outcome { ACT_DONE, ACT_FAILED, ACT_EXPIRED, ACT_REJECTED, ACT_OUTCOMES };

struct activity_recent {
	char id[MSG_ID_MAX];
	char target[MSG_TARGET_MAX];
	char speaker[64];
	char uuid[48];
	uint8_t kind;   /* enum activity_kind */
	uint8_t status; /* enum event_status, the latest */
	char text[ACTIVITY_TEXT_MAX + 1];
	char error[160];
	uint64_t received_ms, updated_ms; /* wall clock */
};

struct activity_speaker {
	char uuid[48];
	char room[64];
	char transport[24]; /* "" when unknown */
	int volume;         /* -1 when unknown */
	int mute;           /* -1 when unknown */
	char track[96];     /* "artist - title", "" when none */
};

struct activity {
	unsigned long outcomes[ACT_KINDS][ACT_OUTCOMES];
	unsigned long latency[ACTIVITY_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t latency_sum_ms;
	unsigned long latency_count;
	struct activity_recent recent[ACTIVITY_RECENT]; /* ring, newest at recent_head - 1 */
	size_t recent_head, recent_count;
	struct activity_speaker speakers[ACTIVITY_SPEAKERS];
	size_t nspeakers;
};

/* An event mqttd publishes. req is the request it belongs to when mqttd holds it (its kind,
 * text and receipt time); for a request rejected before it was taken, req is NULL and kind
 * (enum request_kind, 0 when not known) says what it was. Counts terminal outcomes; for
 * announcements (tts, clip) records the latency at "playing" and keeps the event in the
 * recent list. */
void activity_event(struct activity *a, const struct msg_event *ev, unsigned kind,
                    const struct msg_request *req, uint64_t now_ms);

/* A speaker's state document (the JSON mqttd publishes retained). Bad JSON is ignored. */
void activity_state(struct activity *a, const char *uuid, const char *room, const char *json,
                    size_t len);

/* Append the member ,"activity":{...} to a health facts object: "requests" (per kind, per
 * outcome), "latency_ms" ("bounds", "counts" per bucket with the overflow last, "sum",
 * "count"), "recent" (newest first) and "speakers". Never more than ACTIVITY_FACTS_MAX bytes:
 * speakers are left out first. */
void activity_facts(const struct activity *a, struct strbuf *out);

#endif
