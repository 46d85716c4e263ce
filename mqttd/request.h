/* request.h -- MQTT request topics and payloads to bus requests: pure parsing, no I/O. */
#ifndef MQTTD_REQUEST_H
#define MQTTD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Largest payload handed to the JSON parser; bigger payloads are rejected unread. */
#define REQUEST_PAYLOAD_MAX (64 * 1024)
/* Longest clip URL accepted: what playerd can hand to a speaker whole. */
#define REQUEST_URL_MAX MSG_CLIP_URL_MAX
/* Longest expire_after accepted, in seconds (one day, like request_expiry_s). */
#define REQUEST_EXPIRE_MAX 86400

/* The limits and defaults a payload is checked against (from the configuration). */
struct request_limits {
	int max_text_length; /* bytes of TTS text */
	int expiry_s;        /* default expiry when the payload has no expire_after */
};

/* Outcome of request_parse. On success req is a malloc'ed message of size bytes (free it).
 * On failure req is NULL and reason says why; id holds the publisher's id when it could be
 * read and is valid, else the fallback id, so a rejection can still be correlated. */
struct request_result {
	struct msg_request *req;
	size_t size;
	char id[MSG_ID_MAX];
	char reason[160];
};

/* Split topic "<base>/<target>/<tts|clip>". Returns 0 and fills target (a room slug, a speaker
 * UUID or "all") and *kind, or -1 when the topic is not a request of ours. */
int request_topic_parse(const char *base, const char *topic, char target[MSG_TARGET_MAX],
                        enum request_kind *kind);

/* 1 if s is a usable target level: "all", a room name or slug, or a speaker UUID (any case):
 * 1 to MSG_TARGET_MAX-1 bytes of UTF-8 without control characters. */
int request_target_valid(const char *s, size_t len);

/* 1 if id is usable as a request id: 1..MSG_ID_MAX-1 bytes, valid UTF-8, no control
 * characters. */
int request_id_valid(const char *id, size_t len);

/* Parse and validate a request payload of the given kind for target. fallback_id is used when
 * the publisher gave none; now_ms is the receipt time (ms since the epoch). Returns 0 with
 * res->req set, or -1 with res->reason set. Safe on any input. */
int request_parse(const struct request_limits *lim, enum request_kind kind, const char *target,
                  const void *payload, size_t len, const char *fallback_id, uint64_t now_ms,
                  struct request_result *res);

/* The id of a request whose publisher gave none: "auto-" and 20 hex digits of a SHA-256 of
 * the topic, the payload and the MQTT packet id. A broker redelivery of the same message
 * (same packet id, by the MQTT 3.1.1 rule for resending unacknowledged messages) gets the
 * same id, so it is not run twice; two publishes of the same text differ in packet id. Pure. */
void request_derive_id(const char *topic, const void *payload, size_t len, int mid,
                       char id[MSG_ID_MAX]);

/* A fresh id for a request that came without one at QoS 0 ("auto-<uuid>"). */
void request_unique_id(char id[MSG_ID_MAX]);

/* "tts" or "clip". */
const char *request_kind_name(unsigned kind);

#endif
