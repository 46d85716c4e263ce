/* player.h -- playerd's loop-side state: speaker table, pending requests, per-speaker queues. */
#ifndef SB_PLAYER_H
#define SB_PLAYER_H

#include "announce.h"
#include "msg.h"

/* Pure: find the speaker a target names (room slug or UUID, case-insensitive for UUIDs).
 * Returns its index in table, or -1. */
int player_resolve(const struct msg_speaker *table, int count, const char *target);

int player_start(uv_loop_t *loop, const struct config *cfg);
/* Stop taking work; running announcements finish early (their waits end). */
void player_stop(void);
void player_close(void);

struct strbuf;
/* Health facts for the supervisor's survey (health_facts_fn): queues and pending requests. */
void player_health_facts(void *ctx, struct strbuf *out);

#endif
