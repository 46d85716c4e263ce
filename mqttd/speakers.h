/* speakers.h -- the set of room topics (slugs) of a speaker table, for availability. Pure. */
#ifndef MQTTD_SPEAKERS_H
#define MQTTD_SPEAKERS_H

#include <stddef.h>

#include "msg.h"

/* A set of distinct slugs, in insertion order. */
struct speaker_slugs {
	size_t count;
	char slug[MSG_SPEAKERS_MAX][MSG_TARGET_MAX];
};

/* The distinct slugs of the rooms in sp[0..n). Rooms whose slug is empty or too long are
 * left out. */
void speakers_slugs(const struct msg_speaker *sp, size_t n, struct speaker_slugs *out);

/* 1 if set holds slug. */
int speakers_slugs_has(const struct speaker_slugs *set, const char *slug);

/* Add slug unless present; a full set drops its oldest entry. */
void speakers_slugs_add(struct speaker_slugs *set, const char *slug);

/* Remove slug if present. */
void speakers_slugs_remove(struct speaker_slugs *set, const char *slug);

#endif
