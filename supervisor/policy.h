/* policy.h -- the supervisor's restart policy as pure functions (no clocks read, no I/O). */
#ifndef SB_POLICY_H
#define SB_POLICY_H

#include <stdint.h>

#include "config.h"

struct restart_policy {
	uint64_t stable_ms;     /* a worker up this long restarts at once */
	uint64_t min_delay_ms;  /* first delay for a worker that died quickly */
	uint64_t max_delay_ms;  /* cap of the doubling delay */
	unsigned intensity;     /* more than this many restarts ... */
	uint64_t period_ms;     /* ... within this window: give up */
};

/* One more than the highest intensity, so that the rule is exact for every allowed value. */
#define RESTART_HISTORY (CONFIG_RESTART_INTENSITY_MAX + 1)

/* Restart times of one worker, newest last, for the intensity rule. */
struct restart_history {
	uint64_t at[RESTART_HISTORY];
	unsigned count;
};

void restart_policy_defaults(struct restart_policy *p);

/* The defaults with what the configuration sets (intensity, period, stable time). */
void restart_policy_from_config(struct restart_policy *p, const struct config *cfg);

/* Delay before restarting a worker that ran for uptime_ms, given the delay used last time
 * (0 if none). A worker that had been up for stable_ms restarts at once. */
uint64_t restart_delay(const struct restart_policy *p, uint64_t uptime_ms, uint64_t prev_delay_ms);

/* Record a restart at now_ms; returns 1 if that makes more than intensity restarts within
 * period_ms (the supervisor should give up), else 0. */
int restart_record(const struct restart_policy *p, struct restart_history *h, uint64_t now_ms);

/* One health round as the supervisor saw it, for health_judge. */
struct health_round {
	unsigned surveyed;        /* workers asked (ready or unhealthy when the survey left) */
	unsigned missed;          /* of those, the ones that did not answer */
	unsigned missed_again;    /* of those, the ones that had missed the round before too */
	int conns_at_send;        /* connections on the health socket when the survey left */
	uint32_t since_reopen;    /* rounds since the socket was last reopened; UINT32_MAX: never */
	unsigned grace;           /* rounds left, after a reopen, whose misses may be forgiven */
};

#define HEALTH_REOPEN_ROUNDS 10 /* the health socket is reopened at most this seldom */
#define HEALTH_REOPEN_GRACE 2   /* rounds after a reopen in which workers may still be dialling */

enum health_verdict {
	HEALTH_COUNT,   /* count every miss against its worker */
	HEALTH_FORGIVE, /* count no miss: the survey left before the workers were back */
	HEALTH_REOPEN,  /* count no miss and reopen the supervisor's end of the health socket */
};

/* What to make of a round's misses. Misses that look like the supervisor's socket rather
 * than the workers (every worker silent at once; or one missing twice while fewer workers
 * are connected than were asked, as when a worker cannot dial the socket) reopen it, at most
 * once in HEALTH_REOPEN_ROUNDS, so workers that really hang are still restarted. */
enum health_verdict health_judge(const struct health_round *r);

/* Workers, as bits of the mask reload_affected returns. */
enum {
	WORKER_MQTTD = 1,
	WORKER_DISCOVERYD = 2,
	WORKER_PLAYERD = 4,
	WORKER_HTTPD = 8,
	WORKER_ALL = 15,
};

/* Which workers must restart to take a new configuration (SIGHUP): a mask of WORKER_* bits.
 * A change to a key this function does not know restarts every worker. The supervisor's own
 * keys (restart_*) and runtime_dir (which needs a restart of the whole bridge) count for none. */
unsigned reload_affected(const struct config *old, const struct config *cur);

#endif
