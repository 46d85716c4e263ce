/* backoff.h -- capped exponential backoff with jitter for broker reconnects. Pure. */
#ifndef MQTTD_BACKOFF_H
#define MQTTD_BACKOFF_H

#include <stdint.h>

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

#endif
