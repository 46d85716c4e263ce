/* backoff.c -- when to reconnect to the broker: capped exponential backoff with jitter, and
 * the detection of a twin (another process using our client id). Pure. */
#include "backoff.h"

/* Scale ms by 75..125 % according to rnd; jitter spreads the reconnects of many clients
 * after a broker restart. */
static uint32_t
jitter(uint64_t ms, uint32_t rnd)
{
	return (uint32_t)(ms * (75 + rnd % 51) / 100);
}

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
	return jitter(delay, rnd);
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

void
reconnect_init(struct reconnect *r)
{
	*r = (struct reconnect){.backoff = {.base_ms = RECONNECT_BASE_MS,
					    .max_ms = RECONNECT_MAX_MS}};
}

void
reconnect_connected(struct reconnect *r, unsigned failed_attempts)
{
	r->quick_start = failed_attempts == 0;
}

enum reconnect_verdict
reconnect_session_ended(struct reconnect *r, uint64_t lived_ms)
{
	if (r->twin_suspected) {
		if (lived_ms < RECONNECT_TWIN_CLEAR_MS) {
			r->hold_next = 1;
			return RECONNECT_TWIN_AGAIN;
		}
		r->twin_suspected = 0;
	}
	if (lived_ms >= RECONNECT_STABLE_MS) {
		backoff_reset(&r->backoff);
		r->short_sessions = 0;
	} else if (!r->quick_start) {
		/* We had to retry before this session: the broker was away, not taken. */
		r->short_sessions = 0;
	} else if (++r->short_sessions >= RECONNECT_SHORT_SESSIONS) {
		r->twin_suspected = 1;
		r->hold_next = 1;
		return RECONNECT_TWIN_FOUND;
	}
	return RECONNECT_RETRY;
}

uint32_t
reconnect_delay(struct reconnect *r, uint32_t rnd)
{
	uint32_t delay = backoff_next(&r->backoff, rnd);

	if (r->hold_next)
		delay = jitter(RECONNECT_TWIN_HOLD_MS, rnd);
	r->hold_next = 0;
	return delay;
}
