/* backoff.c -- capped exponential backoff with jitter for broker reconnects. Pure. */
#include "backoff.h"

uint32_t
backoff_next(struct backoff *b, uint32_t rnd)
{
	uint64_t delay = b->base_ms;

	for (unsigned i = 0; i < b->attempt && delay < b->max_ms; i++)
		delay *= 2;
	if (delay > b->max_ms)
		delay = b->max_ms;
	if (b->attempt < 64)
		b->attempt++;
	/* Jitter spreads the reconnects of many clients after a broker restart. */
	return (uint32_t)(delay * (75 + rnd % 51) / 100);
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
