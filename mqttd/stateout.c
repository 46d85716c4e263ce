/* stateout.c -- coalesce a speaker's state documents over a short quiet window and publish
 * the last one, only on change. */
#include "stateout.h"

#include <stdlib.h>
#include <string.h>

static struct stateout_doc *
doc_get(struct stateout *s, const char *uuid)
{
	struct stateout_doc *d = NULL;

	for (int i = 0; i < s->count; i++)
		if (strcmp(s->docs[i].uuid, uuid) == 0)
			return &s->docs[i];
	if (s->count < MSG_SPEAKERS_MAX) {
		d = &s->docs[s->count++];
	} else {
		/* Full after many speakers came and went: forget one that holds nothing (at
		 * worst its next document is published although unchanged). */
		for (int i = 0; i < MSG_SPEAKERS_MAX && d == NULL; i++)
			if (s->docs[i].held == NULL)
				d = &s->docs[i];
		if (d == NULL)
			return NULL;
		free(d->published);
	}
	memset(d, 0, sizeof(*d));
	msg_strlcpy(d->uuid, uuid, sizeof(d->uuid));
	return d;
}

int
stateout_offer(struct stateout *s, const char *uuid, const char *room, const char *json, size_t len,
               uint64_t now_ms)
{
	struct stateout_doc *d = doc_get(s, uuid);
	char *copy;

	if (d == NULL || (copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, json, len);
	copy[len] = '\0';
	if (d->held == NULL)
		d->first_ms = now_ms;
	free(d->held);
	d->held = copy;
	d->held_len = len;
	d->last_ms = now_ms;
	msg_strlcpy(d->room, room, sizeof(d->room));
	return 0;
}

/* When d's held document is due. */
static uint64_t
doc_due(const struct stateout_doc *d)
{
	uint64_t quiet = d->last_ms + STATEOUT_QUIET_MS, hold = d->first_ms + STATEOUT_HOLD_MS;

	return quiet < hold ? quiet : hold;
}

static int
doc_unchanged(const struct stateout_doc *d)
{
	return d->published != NULL && d->published_len == d->held_len &&
	       memcmp(d->published, d->held, d->held_len) == 0 &&
	       strcmp(d->published_room, d->room) == 0;
}

long
stateout_run(struct stateout *s, uint64_t now_ms,
             void (*publish)(void *ctx, const struct stateout_doc *doc), void *ctx)
{
	long next = -1;

	for (int i = 0; i < s->count; i++) {
		struct stateout_doc *d = &s->docs[i];
		uint64_t due;

		if (d->held == NULL)
			continue;
		if ((due = doc_due(d)) > now_ms) {
			if (next < 0 || (long)(due - now_ms) < next)
				next = (long)(due - now_ms);
			continue;
		}
		if (!doc_unchanged(d))
			publish(ctx, d);
		free(d->published);
		d->published = d->held;
		d->published_len = d->held_len;
		memcpy(d->published_room, d->room, sizeof(d->room));
		d->held = NULL;
	}
	return next;
}

void
stateout_free(struct stateout *s)
{
	for (int i = 0; i < s->count; i++) {
		free(s->docs[i].held);
		free(s->docs[i].published);
	}
	memset(s, 0, sizeof(*s));
}
