/* source_limit.c -- per-address backoff of failed description fetches and rate-limited
 * warnings, so that one noisy or hostile host costs little and cannot crowd out the others. */
#include "source_limit.h"

#include <string.h>

static struct source *
source_find(struct source_table *t, const char *ip)
{
	for (int i = 0; i < SOURCES_MAX; i++)
		if (t->s[i].ip[0] != '\0' && strcmp(t->s[i].ip, ip) == 0)
			return &t->s[i];
	return NULL;
}

/* The entry of ip, made from a free one or the least recently used when there is none. */
static struct source *
source_get(struct source_table *t, const char *ip, uint64_t now_ms)
{
	struct source *s = source_find(t, ip), *lru = &t->s[0];

	if (s == NULL) {
		for (int i = 0; i < SOURCES_MAX && lru->ip[0] != '\0'; i++)
			if (t->s[i].ip[0] == '\0' || t->s[i].used_ms < lru->used_ms)
				lru = &t->s[i];
		s = lru;
		memset(s, 0, sizeof(*s));
		strncpy(s->ip, ip, sizeof(s->ip) - 1);
	}
	s->used_ms = now_ms;
	return s;
}

uint64_t
source_failed(struct source_table *t, const char *ip, uint32_t bootseq, int self, uint64_t now_ms)
{
	struct source *s = source_get(t, ip, now_ms);
	uint64_t hold = SOURCE_HOLD_MIN_MS;

	/* Quiet for a while since the last hold ended: start again from the shortest. */
	if (now_ms > s->hold_until_ms + SOURCE_HOLD_MAX_MS)
		s->failures = 0;
	s->failures++;
	for (unsigned i = 1; i < s->failures && hold < SOURCE_HOLD_MAX_MS; i++)
		hold *= 2;
	if (hold > SOURCE_HOLD_MAX_MS)
		hold = SOURCE_HOLD_MAX_MS;
	s->hold_until_ms = now_ms + hold;
	s->bootseq = bootseq;
	s->self = self;
	return hold;
}

void
source_ok(struct source_table *t, const char *ip)
{
	struct source *s = source_find(t, ip);

	if (s != NULL) {
		s->failures = 0;
		s->hold_until_ms = 0;
	}
}

int
source_held(struct source_table *t, const char *ip, int announced, int alive, int has_bootseq,
            uint32_t bootseq, uint64_t now_ms)
{
	struct source *s = source_find(t, ip);

	if (s == NULL || s->hold_until_ms <= now_ms)
		return 0;
	if (announced && !s->self && (alive || (has_bootseq && bootseq != s->bootseq))) {
		s->hold_until_ms = 0; /* it came back since the topology's word failed */
		return 0;
	}
	return 1;
}

/* Count a warning not logged; the summary comes SOURCE_SUMMARY_DELAY_MS after the first of a
 * batch, and never sooner than a period after the previous summary. */
static void
source_suppress(struct source_table *t, uint64_t now_ms)
{
	uint64_t due = now_ms + SOURCE_SUMMARY_DELAY_MS;

	if (t->suppressed++ > 0)
		return;
	if (t->summary_ms != 0 && t->summary_ms + SOURCE_WARN_PERIOD_MS > due)
		due = t->summary_ms + SOURCE_WARN_PERIOD_MS;
	t->summary_due_ms = due;
}

int
source_warn_ok(struct source_table *t, const char *ip, uint64_t now_ms)
{
	struct source *s = source_get(t, ip, now_ms);

	if (t->window_ms == 0 || now_ms - t->window_ms >= SOURCE_WARN_PERIOD_MS) {
		t->window_ms = now_ms;
		t->window_warnings = 0;
	}
	if ((s->warned_ms != 0 && now_ms - s->warned_ms < SOURCE_WARN_PERIOD_MS) ||
	    t->window_warnings >= SOURCE_WARN_BURST) {
		source_suppress(t, now_ms);
		return 0;
	}
	s->warned_ms = now_ms;
	t->window_warnings++;
	return 1;
}

unsigned
source_summary_due(struct source_table *t, uint64_t now_ms)
{
	unsigned n = t->suppressed;

	if (n == 0 || now_ms < t->summary_due_ms)
		return 0;
	t->suppressed = 0;
	t->summary_ms = now_ms;
	return n;
}
