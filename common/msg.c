/* msg.c -- message names, the receive-side size check, and message building. */
#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The size rule of each type: a fixed part, and for some a tail whose length is a uint32
 * count inside the fixed part (text bytes, or speakers). */
struct msg_rule {
	const char *name;
	size_t fixed;   /* bytes of the fixed part */
	size_t len_at;  /* with a tail: offset of its count in the fixed part */
	uint32_t max;   /* with a tail: largest count accepted; 0 = no tail */
	size_t unit;    /* with a tail: bytes per counted item */
};

#define FIXED(t, s) [t] = {#t, sizeof(struct s), 0, 0, 0}
#define TAIL(t, s, count, most, item) \
	[t] = {#t, sizeof(struct s), offsetof(struct s, count), most, item}

static const struct msg_rule msg_rules[MSG_TYPE_MAX] = {
	[MSG_NONE] = {"MSG_NONE", 0, 0, 0, 0},
	[MSG_SPEAKERS_QUERY] = {"MSG_SPEAKERS_QUERY", 0, 0, 0, 0},
	TAIL(MSG_REQUEST, msg_request, text_len, MSG_MAX_SIZE, 1),
	FIXED(MSG_EVENT, msg_event),
	TAIL(MSG_SPEAKERS, msg_speakers, count, MSG_SPEAKERS_MAX, sizeof(struct msg_speaker)),
	TAIL(MSG_CLIP_REQUEST, msg_clip_request, text_len, MSG_MAX_SIZE, 1),
	FIXED(MSG_CLIP_REPLY, msg_clip_reply),
	TAIL(MSG_SPEAKER_STATE, msg_speaker_state, json_len, MSG_STATE_JSON_MAX, 1),
	FIXED(MSG_HEALTH_SURVEY, msg_health_survey),
	TAIL(MSG_HEALTH_REPLY, msg_health_reply, facts_len, MSG_HEALTH_FACTS_MAX, 1),
	FIXED(MSG_REQUEST_ACK, msg_request_ack),
	TAIL(MSG_GENA_NOTIFY, msg_gena_notify, body_len, MSG_GENA_BODY_MAX, 1),
	TAIL(MSG_WEB_REQUEST, msg_web_request, payload_len, MSG_WEB_PAYLOAD_MAX, 1),
	FIXED(MSG_CLIP_FETCHED, msg_clip_fetched),
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

/* Bytes the tail of a message must have, given its fixed part; SIZE_MAX when its count is
 * above the type's limit. */
static size_t
msg_tail_len(const struct msg_rule *r, const void *payload)
{
	uint32_t n;

	if (r->max == 0)
		return 0;
	memcpy(&n, (const char *)payload + r->len_at, sizeof(n));
	return n > r->max ? SIZE_MAX : (size_t)n * r->unit;
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
	FIELD(MSG_GENA_NOTIFY, msg_gena_notify, peer),
	FIELD(MSG_WEB_REQUEST, msg_web_request, target),
	FIELD(MSG_WEB_REQUEST, msg_web_request, peer),
	FIELD(MSG_CLIP_FETCHED, msg_clip_fetched, name),
	FIELD(MSG_CLIP_FETCHED, msg_clip_fetched, peer),
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
	tail = msg_tail_len(r, h + 1);
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
