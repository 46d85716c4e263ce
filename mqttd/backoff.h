/* backoff.h -- when to reconnect to the broker: capped exponential backoff with jitter, and
 * the detection of a twin (another process using our client id). Pure. */
#ifndef MQTTD_BACKOFF_H
#define MQTTD_BACKOFF_H

#include <stdint.h>

#define RECONNECT_BASE_MS 500          /* first delay */
#define RECONNECT_MAX_MS 30000         /* cap before jitter */
#define RECONNECT_STABLE_MS 10000      /* a session this long resets the backoff */
#define RECONNECT_SHORT_SESSIONS 3     /* this many short, quick ones in a row: a twin */
#define RECONNECT_TWIN_HOLD_MS 120000  /* pause between attempts while a twin is suspected */
#define RECONNECT_TWIN_CLEAR_MS 600000 /* a session this long clears the suspicion */

struct backoff {
	uint32_t base_ms; /* first delay */
	uint32_t max_ms;  /* cap before jitter */
	unsigned attempt; /* delays handed out since the last reset */
};

/* Next delay: base_ms * 2^attempt capped at max_ms, then scaled by 75..125 % according to rnd
 * (any random 32-bit value). Advances the attempt count. */
uint32_t backoff_next(struct backoff *b, uint32_t rnd);

/* Start again from base_ms (after a connection that lasted). */
void backoff_reset(struct backoff *b);

/* What the end of a session says. */
enum reconnect_verdict {
	RECONNECT_RETRY,      /* ordinary loss: retry with backoff */
	RECONNECT_TWIN_FOUND, /* a twin is now suspected: hold off */
	RECONNECT_TWIN_AGAIN, /* still a twin: hold off again */
};

struct reconnect {
	struct backoff backoff;
	int quick_start;         /* the current session came on the first attempt */
	unsigned short_sessions; /* quick sessions in a row that ended before STABLE_MS */
	int twin_suspected;
	int hold_next;           /* the next delay is a twin hold */
};

void reconnect_init(struct reconnect *r);

/* The broker accepted a session after failed_attempts failed attempts. */
void reconnect_connected(struct reconnect *r, unsigned failed_attempts);

/* A session that lasted lived_ms ended. A broker that kicks us off right after each quick
 * reconnect is what a twin looks like (a restarting broker refuses some attempts instead).
 * Twins must not fight: while one is suspected, attempts are minutes apart. */
enum reconnect_verdict reconnect_session_ended(struct reconnect *r, uint64_t lived_ms);

/* Delay before the next attempt; rnd is any random 32-bit value for the jitter. */
uint32_t reconnect_delay(struct reconnect *r, uint32_t rnd);

#endif
