/* source_limit.h -- what one SSDP source address may cost us: failed description fetches held
 * back with backoff, and warnings rate-limited, per address in a table of bounded size; pure. */
#ifndef SB_SOURCE_LIMIT_H
#define SB_SOURCE_LIMIT_H

#include <stdint.h>

#define SOURCES_MAX 64                /* addresses remembered; the least recently used goes */
#define SOURCE_HOLD_MIN_MS 1000       /* hold after a first failed fetch, doubling */
#define SOURCE_HOLD_MAX_MS 60000      /* to at most this */
#define SOURCE_WARN_PERIOD_MS 60000   /* one warning per address per period */
#define SOURCE_WARN_BURST 10          /* and at most this many of all addresses per period */
#define SOURCE_SUMMARY_DELAY_MS 10000 /* "N more not logged" comes this long after the first */

/* One address whose description fetches failed or that we warned about. */
struct source {
	char ip[16];            /* dotted IPv4; "" = free */
	unsigned failures;      /* description fetches failed in a row */
	uint64_t hold_until_ms; /* no fetch from its word before this */
	uint32_t bootseq;       /* of the announcement the failed fetch followed */
	int self;               /* that announcement came from the address itself */
	uint64_t warned_ms;     /* last warning about it, 0 = never */
	uint64_t used_ms;       /* last touched: the least recent is reused when full */
};

struct source_table {
	struct source s[SOURCES_MAX];
	uint64_t window_ms;       /* start of the current warning period */
	unsigned window_warnings; /* warnings logged in it */
	unsigned suppressed;      /* warnings not logged since the last summary */
	uint64_t summary_ms;      /* last summary, 0 = never */
	uint64_t summary_due_ms;  /* when the pending summary is due */
};

/* A description fetch of a device at ip failed. self: it followed an SSDP message from ip
 * itself (not a topology listing it). The address is held back for SOURCE_HOLD_MIN_MS,
 * doubling with each failure in a row up to SOURCE_HOLD_MAX_MS. Returns the hold in ms. */
uint64_t source_failed(struct source_table *t, const char *ip, uint32_t bootseq, int self,
                       uint64_t now_ms);

/* A description fetch at ip worked: its failures are forgotten. */
void source_ok(struct source_table *t, const char *ip);

/* 1 when a fetch at ip is held back now. An SSDP message from ip saying it has (re)started
 * since (alive, or has_bootseq with another boot sequence) lifts a hold that followed someone
 * else's word, never one that followed its own messages: a host cannot talk its way past the
 * backoff. announced = 0 for a fetch that follows no message from ip (a topology). */
int source_held(struct source_table *t, const char *ip, int announced, int alive, int has_bootseq,
                uint32_t bootseq, uint64_t now_ms);

/* 1 when a warning about ip may be logged now: one per address per SOURCE_WARN_PERIOD_MS and
 * SOURCE_WARN_BURST of all addresses; otherwise it is counted for source_summary_due. */
int source_warn_ok(struct source_table *t, const char *ip, uint64_t now_ms);

/* The number of warnings not logged, once it is time to say so (SOURCE_SUMMARY_DELAY_MS after
 * the first, at most once per SOURCE_WARN_PERIOD_MS), else 0. Resets the count. */
unsigned source_summary_due(struct source_table *t, uint64_t now_ms);

#endif
