/* msg.h -- every message that crosses the bus: header, types, payloads, size rules. */
#ifndef SB_MSG_H
#define SB_MSG_H

#include <stddef.h>
#include <stdint.h>

#define MSG_MAGIC 0x53425247u /* "SBRG" */
#define MSG_VERSION 1
#define MSG_MAX_SIZE (64 * 1024)

/* Prefixed to every payload. The receiver checks magic, version, type and that len is the
 * exact number of payload bytes that follow and fits the type's size rule. */
struct msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type; /* enum msg_type */
	uint32_t len;  /* payload bytes after this header */
	uint32_t seq;  /* sender's counter, for logs and snapshot ordering */
};

enum msg_type {
	MSG_NONE = 0,

	/* mqttd -> playerd (PUSH to playerd's inbox): work that is acknowledged by events */
	MSG_REQUEST, /* struct msg_request + text */

	/* playerd -> mqttd (PUSH to mqttd's inbox) */
	MSG_EVENT, /* struct msg_event: a request changed state */

	/* discoveryd -> everyone (PUB discoveryd.pub): full table on change and periodically */
	MSG_SPEAKERS, /* struct msg_speakers + count * struct msg_speaker */

	/* anyone -> discoveryd (PUSH to its inbox): publish the table now */
	MSG_SPEAKERS_QUERY, /* no payload */

	/* playerd -> httpd (REQ/REP on httpd.rep) */
	MSG_CLIP_REQUEST, /* struct msg_clip_request + text */
	MSG_CLIP_REPLY,   /* struct msg_clip_reply */

	/* supervisor -> every worker (SURVEYOR on supervisor.health, workers RESPONDENT) */
	MSG_HEALTH_SURVEY, /* struct msg_health_survey */
	MSG_HEALTH_REPLY,  /* struct msg_health_reply + facts (a JSON object) */

	/* playerd -> mqttd (PUSH to mqttd's inbox): a speaker's state changed */
	MSG_SPEAKER_STATE, /* struct msg_speaker_state + JSON */

	/* playerd -> mqttd (PUSH to mqttd's inbox): playerd is done with a request; every
	 * terminal event of it was sent before this on the same socket */
	MSG_REQUEST_ACK, /* struct msg_request_ack */

	/* httpd -> playerd (PUSH to playerd's inbox): a speaker's GENA NOTIFY, answered already */
	MSG_GENA_NOTIFY, /* struct msg_gena_notify + body */

	/* httpd -> mqttd (PUSH to mqttd's inbox): a test announcement from the status page,
	 * spooled and handled by mqttd exactly like a request on <base>/<target>/tts */
	MSG_WEB_REQUEST, /* struct msg_web_request + payload */

	/* httpd -> playerd (PUSH to playerd's inbox): someone asked for a clip (GET or HEAD), said
	 * at most once a second per clip; playerd tells "never fetched" from "never played" */
	MSG_CLIP_FETCHED, /* struct msg_clip_fetched */

	MSG_TYPE_MAX
};

#define MSG_ID_MAX 64
#define MSG_TARGET_MAX 96
#define MSG_TEXT_MAX 8192
/* Longest clip URL: mqttd rejects longer ones, every buffer a clip URL passes through holds
 * this many bytes and a terminator. */
#define MSG_CLIP_URL_MAX 2048
_Static_assert(MSG_CLIP_URL_MAX <= MSG_TEXT_MAX, "a clip URL travels as request text");

/* What a request asks for. */
enum request_kind { REQUEST_TTS = 1, REQUEST_CLIP = 2, REQUEST_SET = 3 };

struct msg_request {
	char id[MSG_ID_MAX];         /* publisher's id, or one derived by mqttd */
	char target[MSG_TARGET_MAX]; /* room slug, speaker UUID, or "all" */
	uint8_t kind;                /* enum request_kind */
	uint8_t has_volume;
	uint8_t pad[2];
	int32_t volume;       /* 0..100 when has_volume */
	char voice[32];       /* espeak-ng voice; "" = configured default */
	uint64_t received_ms; /* wall clock at receipt (ms since epoch) */
	uint64_t deadline_ms; /* not played after this (ms since epoch) */
	uint32_t text_len;    /* bytes of text that follow, no terminator */
	char text[];          /* TTS text (UTF-8) or clip URL */
};

enum event_status {
	EVENT_QUEUED = 1,
	EVENT_PLAYING,
	EVENT_DONE,
	EVENT_FAILED,
	EVENT_EXPIRED,
	EVENT_REJECTED,
};

struct msg_event {
	char id[MSG_ID_MAX];
	char target[MSG_TARGET_MAX]; /* as requested */
	char speaker[64];            /* room name it resolved to, "" if none */
	char uuid[48];               /* speaker UUID it resolved to, "" if none */
	uint8_t status;              /* enum event_status */
	uint8_t pad[3];
	uint32_t duration_ms; /* clip length, when known */
	char error[256];      /* reason for failed/rejected/expired */
};

struct msg_speaker {
	char uuid[48];  /* RINCON_... */
	char room[64];  /* room name as the user set it */
	char ip[46];    /* dotted IPv4 */
	uint16_t port;  /* 1400 on real players */
	char model[64]; /* model name, e.g. "Sonos Playbar" */
	/* From the ZoneGroupState (topology); "" until the first one is known. */
	char household[64];   /* household id (X-RINCON-HOUSEHOLD), "Sonos_..." */
	char group_id[64];    /* ZoneGroup ID, "RINCON_x:n" */
	char coordinator[48]; /* uuid of the group coordinator; its own uuid when unknown */
	uint32_t bootseq;     /* boot counter; a new ip, port or bootseq: renew subscriptions */
	uint8_t satellites;   /* hidden devices of this room: stereo pair, surrounds, sub */
	uint8_t pad2[3];
};

#define MSG_SPEAKERS_MAX 128

struct msg_speakers {
	uint32_t count;
	uint32_t pad;
	struct msg_speaker speakers[];
};

/* A full table must fit one message. */
_Static_assert(sizeof(struct msg_hdr) + sizeof(struct msg_speakers) +
                       MSG_SPEAKERS_MAX * sizeof(struct msg_speaker) <=
                   MSG_MAX_SIZE,
               "MSG_SPEAKERS_MAX speakers do not fit MSG_MAX_SIZE");

struct msg_clip_request {
	char voice[32]; /* espeak-ng voice, "" = default */
	uint32_t text_len;
	char text[]; /* UTF-8, no terminator */
};

struct msg_clip_reply {
	int32_t status; /* 0, or a negative errno-style code */
	uint32_t duration_ms;
	uint32_t bytes; /* file size */
	char name[96];  /* clip file name, served by httpd under its clips path */
	char mime[32];  /* Content-Type httpd serves it with */
	char error[160];
};

struct msg_health_survey {
	uint32_t round;     /* supervisor's survey counter, echoed in the reply */
	uint32_t log_level; /* the bridge's log level now, enum log_level + 1 (0: keep yours) */
	uint64_t expires_ms; /* CLOCK_MONOTONIC ms (util_mono_ms) after which no answer counts */
};

#define MSG_HEALTH_FACTS_MAX 32768

struct msg_health_reply {
	char worker[16]; /* "mqttd", "discoveryd", "playerd", "httpd" */
	int32_t pid;
	uint32_t round; /* from the survey */
	uint64_t uptime_ms;
	uint32_t facts_len; /* bytes of facts that follow, no terminator, <= MSG_HEALTH_FACTS_MAX */
	uint32_t pad;
	char facts[]; /* the worker's own facts as one JSON object */
};

struct msg_request_ack {
	char id[MSG_ID_MAX];
	uint8_t status; /* enum event_status: the last terminal status reported */
	uint8_t pad[3];
	uint32_t events; /* speakers it sent a terminal event for (a rejection counts as one) */
};

#define MSG_STATE_JSON_MAX 8192

struct msg_speaker_state {
	char uuid[48];
	char room[64];     /* room name; mqttd publishes on its slug */
	uint32_t json_len; /* bytes of JSON that follow, no terminator, <= MSG_STATE_JSON_MAX */
	uint32_t pad;
	char json[]; /* the retained state document */
};

/* A NOTIFY body must fit one message with its fixed part. */
#define MSG_GENA_BODY_MAX (60 * 1024)

struct msg_gena_notify {
	char uuid[48];     /* speaker, from the callback path /gena/<uuid>/<service> */
	char service[32];  /* "AVTransport", "RenderingControl" */
	char sid[128];     /* SID header: "uuid:..." */
	char peer[48];     /* address the NOTIFY came from (dotted IPv4 for IPv4 peers) */
	uint32_t seq;      /* SEQ header: 0 for the initial event */
	uint32_t body_len; /* bytes of body that follow, no terminator, <= MSG_GENA_BODY_MAX */
	char body[];       /* the e:propertyset as received */
};

_Static_assert(sizeof(struct msg_hdr) + sizeof(struct msg_gena_notify) + MSG_GENA_BODY_MAX <=
                   MSG_MAX_SIZE,
               "MSG_GENA_BODY_MAX does not fit MSG_MAX_SIZE");

/* A request payload (the JSON a publisher would send on <base>/<target>/tts) must fit. */
#define MSG_WEB_PAYLOAD_MAX 16384

struct msg_web_request {
	char target[MSG_TARGET_MAX]; /* room slug, speaker UUID or "all", checked by httpd */
	char peer[64];               /* address of the browser, for mqttd's log */
	uint32_t payload_len;        /* bytes that follow, no terminator, <= MSG_WEB_PAYLOAD_MAX */
	uint32_t pad;
	char payload[]; /* JSON: {"id", "text", "volume"} */
};

struct msg_clip_fetched {
	char name[96]; /* clip file name, as in msg_clip_reply */
	char peer[48]; /* address the request came from */
};

/* Name of a type for logs ("MSG_REQUEST"), "unknown" when out of range. */
const char *msg_type_name(unsigned type);
const char *event_status_name(unsigned status);

/* Validate a received buffer. Returns 0 and sets *hdr and *payload, or -1 with a reason. Pure. */
int msg_check(const void *buf, size_t len, const struct msg_hdr **hdr, const void **payload,
              char *err, size_t errlen);

/* Build a message into a malloc'ed buffer: header + payload. Returns NULL on ENOMEM or if
 * the result is larger than MSG_MAX_SIZE. */
void *msg_build(unsigned type, uint32_t seq, const void *payload, size_t len, size_t *outlen);

/* Copy src into a fixed char field, always terminated, truncating. */
void msg_strlcpy(char *dst, const char *src, size_t size);

#endif
