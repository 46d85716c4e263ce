/* stateout.h -- speaker state documents on their way out: a burst of changes to one speaker
 * is published once, the last document, and only when it differs from what was published.
 * Pure: the caller owns the clock, the timer and the publishing. */
#ifndef MQTTD_STATEOUT_H
#define MQTTD_STATEOUT_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define STATEOUT_QUIET_MS 150 /* a document is published once none newer came this long */
#define STATEOUT_HOLD_MS 1000 /* ... and held at most this long while changes keep coming */

/* One speaker's documents. */
struct stateout_doc {
	char uuid[48];
	char room[64]; /* room of the held document: its topic */
	char *held;    /* newest document not yet published, NULL when none */
	size_t held_len;
	uint64_t first_ms; /* when the first document of the held burst came */
	uint64_t last_ms;  /* when the newest came */
	char *published;   /* the document as last published, NULL before the first */
	size_t published_len;
	char published_room[64];
};

struct stateout {
	struct stateout_doc docs[MSG_SPEAKERS_MAX];
	int count;
};

/* Hold uuid's newest document (replacing an older held one). Returns 0, or -1 when out of
 * memory (the document is dropped). */
int stateout_offer(struct stateout *s, const char *uuid, const char *room, const char *json,
                   size_t len, uint64_t now_ms);

/* Publish, through publish(ctx, doc) (doc->room, doc->held, doc->held_len), every held
 * document whose time has come at now_ms and that differs from the last published one; a
 * held document equal to it is dropped. Returns the ms until the next one is due, or -1 when
 * none is held. now_ms UINT64_MAX publishes everything held (at stop). */
long stateout_run(struct stateout *s, uint64_t now_ms,
                  void (*publish)(void *ctx, const struct stateout_doc *doc), void *ctx);

void stateout_free(struct stateout *s);

#endif
