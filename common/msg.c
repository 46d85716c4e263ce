/* msg.c -- message names, the receive-side size check, and message building. */
#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct msg_rule {
	const char *name;
	size_t fixed;   /* bytes of the fixed part */
	int variable;   /* 1: a length field inside says how many bytes follow */
};

static const struct msg_rule msg_rules[MSG_TYPE_MAX] = {
	[MSG_NONE] = {"MSG_NONE", 0, 0},
	[MSG_REQUEST] = {"MSG_REQUEST", sizeof(struct msg_request), 1},
	[MSG_EVENT] = {"MSG_EVENT", sizeof(struct msg_event), 0},
	[MSG_SPEAKERS] = {"MSG_SPEAKERS", sizeof(struct msg_speakers), 1},
	[MSG_SPEAKERS_QUERY] = {"MSG_SPEAKERS_QUERY", 0, 0},
	[MSG_CLIP_REQUEST] = {"MSG_CLIP_REQUEST", sizeof(struct msg_clip_request), 1},
	[MSG_CLIP_REPLY] = {"MSG_CLIP_REPLY", sizeof(struct msg_clip_reply), 0},
	[MSG_SPEAKER_STATE] = {"MSG_SPEAKER_STATE", sizeof(struct msg_speaker_state), 1},
	[MSG_HEALTH_SURVEY] = {"MSG_HEALTH_SURVEY", sizeof(struct msg_health_survey), 0},
	[MSG_HEALTH_REPLY] = {"MSG_HEALTH_REPLY", sizeof(struct msg_health_reply), 1},
	[MSG_REQUEST_ACK] = {"MSG_REQUEST_ACK", sizeof(struct msg_request_ack), 0},
	[MSG_GENA_NOTIFY] = {"MSG_GENA_NOTIFY", sizeof(struct msg_gena_notify), 1},
	[MSG_WEB_REQUEST] = {"MSG_WEB_REQUEST", sizeof(struct msg_web_request), 1},
};

const char *
msg_type_name(unsigned type)
{
	if (type == MSG_NONE || type >= MSG_TYPE_MAX)
		return "unknown";
	return msg_rules[type].name;
}

const char *
event_status_name(unsigned status)
{
	static const char *const names[] = {"none",   "queued",  "playing", "done",
					    "failed", "expired", "rejected"};

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}

/* Bytes the variable tail of a message must have, given its fixed part. */
static size_t
msg_tail_len(unsigned type, const void *payload)
{
	uint32_t n;

	switch (type) {
	case MSG_REQUEST:
		memcpy(&n, (const char *)payload + offsetof(struct msg_request, text_len), sizeof(n));
		return n;
	case MSG_CLIP_REQUEST:
		memcpy(&n, (const char *)payload + offsetof(struct msg_clip_request, text_len),
		       sizeof(n));
		return n;
	case MSG_SPEAKERS:
		memcpy(&n, payload, sizeof(n));
		if (n > MSG_SPEAKERS_MAX)
			return SIZE_MAX;
		return (size_t)n * sizeof(struct msg_speaker);
	case MSG_HEALTH_REPLY:
		memcpy(&n, (const char *)payload + offsetof(struct msg_health_reply, facts_len),
		       sizeof(n));
		return n > MSG_HEALTH_FACTS_MAX ? SIZE_MAX : n;
	case MSG_SPEAKER_STATE:
		memcpy(&n, (const char *)payload + offsetof(struct msg_speaker_state, json_len),
		       sizeof(n));
		return n > MSG_STATE_JSON_MAX ? SIZE_MAX : n;
	case MSG_GENA_NOTIFY:
		memcpy(&n, (const char *)payload + offsetof(struct msg_gena_notify, body_len),
		       sizeof(n));
		return n > MSG_GENA_BODY_MAX ? SIZE_MAX : n;
	case MSG_WEB_REQUEST:
		memcpy(&n, (const char *)payload + offsetof(struct msg_web_request, payload_len),
		       sizeof(n));
		return n > MSG_WEB_PAYLOAD_MAX ? SIZE_MAX : n;
	default:
		return 0;
	}
}

struct msg_field {
	unsigned type;
	size_t offset, size;
};

#define FIELD(t, s, f) {t, offsetof(struct s, f), sizeof(((struct s *)0)->f)}

/* Every fixed-size text field: each must hold a terminating NUL, so receivers can use them as
 * C strings without copying. */
static const struct msg_field msg_strings[] = {
	FIELD(MSG_REQUEST, msg_request, id),    FIELD(MSG_REQUEST, msg_request, target),
	FIELD(MSG_REQUEST, msg_request, voice), FIELD(MSG_EVENT, msg_event, id),
	FIELD(MSG_EVENT, msg_event, target),    FIELD(MSG_EVENT, msg_event, speaker),
	FIELD(MSG_EVENT, msg_event, uuid),      FIELD(MSG_EVENT, msg_event, error),
	FIELD(MSG_CLIP_REQUEST, msg_clip_request, voice),
	FIELD(MSG_CLIP_REPLY, msg_clip_reply, name),
	FIELD(MSG_CLIP_REPLY, msg_clip_reply, mime),
	FIELD(MSG_CLIP_REPLY, msg_clip_reply, error),
	FIELD(MSG_SPEAKER_STATE, msg_speaker_state, uuid),
	FIELD(MSG_SPEAKER_STATE, msg_speaker_state, room),
	FIELD(MSG_HEALTH_REPLY, msg_health_reply, worker),
	FIELD(MSG_REQUEST_ACK, msg_request_ack, id),
	FIELD(MSG_GENA_NOTIFY, msg_gena_notify, uuid),
	FIELD(MSG_GENA_NOTIFY, msg_gena_notify, service),
	FIELD(MSG_GENA_NOTIFY, msg_gena_notify, sid),
	FIELD(MSG_WEB_REQUEST, msg_web_request, target),
	FIELD(MSG_WEB_REQUEST, msg_web_request, peer),
};

static const struct msg_field msg_speaker_strings[] = {
	FIELD(0, msg_speaker, uuid), FIELD(0, msg_speaker, room), FIELD(0, msg_speaker, ip),
	FIELD(0, msg_speaker, model), FIELD(0, msg_speaker, household),
	FIELD(0, msg_speaker, group_id), FIELD(0, msg_speaker, coordinator),
};

static int
terminated(const char *p, const struct msg_field *f)
{
	return memchr(p + f->offset, '\0', f->size) != NULL;
}

static int
msg_check_strings(unsigned type, const void *payload)
{
	for (size_t i = 0; i < sizeof(msg_strings) / sizeof(msg_strings[0]); i++)
		if (msg_strings[i].type == type && !terminated(payload, &msg_strings[i]))
			return -1;
	if (type == MSG_SPEAKERS) {
		const struct msg_speakers *t = payload;

		for (uint32_t k = 0; k < t->count; k++)
			for (size_t i = 0;
			     i < sizeof(msg_speaker_strings) / sizeof(msg_speaker_strings[0]); i++)
				if (!terminated((const char *)&t->speakers[k], &msg_speaker_strings[i]))
					return -1;
	}
	return 0;
}

int
msg_check(const void *buf, size_t len, const struct msg_hdr **hdr, const void **payload,
	  char *err, size_t errlen)
{
	const struct msg_hdr *h = buf;
	const struct msg_rule *r;
	size_t tail;

	if (len < sizeof(*h)) {
		snprintf(err, errlen, "short message (%zu bytes)", len);
		return -1;
	}
	if (h->magic != MSG_MAGIC || h->version != MSG_VERSION) {
		snprintf(err, errlen, "bad magic 0x%08x or version %u", h->magic, h->version);
		return -1;
	}
	if (h->type == MSG_NONE || h->type >= MSG_TYPE_MAX) {
		snprintf(err, errlen, "unknown type %u", h->type);
		return -1;
	}
	r = &msg_rules[h->type];
	if (h->len != len - sizeof(*h) || h->len < r->fixed) {
		snprintf(err, errlen, "%s: payload %u bytes in a %zu-byte message, needs %zu",
			 r->name, h->len, len, r->fixed);
		return -1;
	}
	tail = r->variable ? msg_tail_len(h->type, h + 1) : 0;
	if (tail == SIZE_MAX || h->len != r->fixed + tail) {
		snprintf(err, errlen, "%s: payload %u bytes, its fields say %zu", r->name, h->len,
			 tail == SIZE_MAX ? tail : r->fixed + tail);
		return -1;
	}
	if (msg_check_strings(h->type, h + 1) < 0) {
		snprintf(err, errlen, "%s: a text field is not terminated", r->name);
		return -1;
	}
	*hdr = h;
	*payload = h + 1;
	return 0;
}

void *
msg_build(unsigned type, uint32_t seq, const void *payload, size_t len, size_t *outlen)
{
	struct msg_hdr *h;

	if (len > MSG_MAX_SIZE - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + len)) == NULL)
		return NULL;
	h->magic = MSG_MAGIC;
	h->version = MSG_VERSION;
	h->type = (uint16_t)type;
	h->len = (uint32_t)len;
	h->seq = seq;
	if (len > 0)
		memcpy(h + 1, payload, len);
	*outlen = sizeof(*h) + len;
	return h;
}

void
msg_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}
