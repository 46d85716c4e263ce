/* policy.c -- restart delay (doubling, capped, reset when stable) and OTP-style intensity. */
#include "policy.h"

#include <string.h>

void
restart_policy_defaults(struct restart_policy *p)
{
	p->stable_ms = 10000;
	p->min_delay_ms = 1000;
	p->max_delay_ms = 30000;
	p->intensity = 10;
	p->period_ms = 60000;
}

uint64_t
restart_delay(const struct restart_policy *p, uint64_t uptime_ms, uint64_t prev_delay_ms)
{
	uint64_t d;

	if (uptime_ms >= p->stable_ms)
		return 0;
	d = prev_delay_ms == 0 ? p->min_delay_ms : prev_delay_ms * 2;
	return d > p->max_delay_ms ? p->max_delay_ms : d;
}

int
restart_record(const struct restart_policy *p, struct restart_history *h, uint64_t now_ms)
{
	unsigned keep = 0;

	/* Drop restarts older than the window, then append this one. */
	for (unsigned i = 0; i < h->count; i++)
		if (now_ms - h->at[i] < p->period_ms)
			h->at[keep++] = h->at[i];
	h->count = keep;
	if (h->count == RESTART_HISTORY) {
		memmove(h->at, h->at + 1, sizeof(h->at[0]) * (RESTART_HISTORY - 1));
		h->count--;
	}
	h->at[h->count++] = now_ms;
	return h->count > p->intensity;
}
