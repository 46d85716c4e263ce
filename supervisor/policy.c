/* policy.c -- restart delay (doubling, capped, reset when stable), OTP-style intensity, and
 * which workers a new configuration concerns. */
#include "policy.h"

#include <stddef.h>
#include <string.h>

void
restart_policy_defaults(struct restart_policy *p)
{
	p->stable_ms = 10000;
	p->min_delay_ms = 1000;
	p->max_delay_ms = 30000;
	p->intensity = 5;
	p->period_ms = 60000;
}

void
restart_policy_from_config(struct restart_policy *p, const struct config *cfg)
{
	restart_policy_defaults(p);
	p->intensity = (unsigned)cfg->restart_intensity;
	p->period_ms = (uint64_t)cfg->restart_period_s * 1000;
	p->stable_ms = (uint64_t)cfg->restart_stable_s * 1000;
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

struct reload_key {
	size_t offset, size;
	unsigned workers;
};

#define KEY(f, w) {offsetof(struct config, f), sizeof(((struct config *)0)->f), w}

/* Who reads which key; see each worker's use of its struct config. */
static const struct reload_key reload_keys[] = {
	KEY(config_file, 0),
	KEY(broker_host, WORKER_MQTTD),
	KEY(broker_port, WORKER_MQTTD),
	KEY(base_topic, WORKER_MQTTD | WORKER_HTTPD),
	KEY(speakers, WORKER_DISCOVERYD),
	KEY(http_port, WORKER_PLAYERD | WORKER_HTTPD),
	KEY(http_bind, WORKER_HTTPD),
	KEY(advertise_host, WORKER_DISCOVERYD | WORKER_PLAYERD),
	KEY(multicast_if, WORKER_DISCOVERYD),
	KEY(discovery_timeout_ms, WORKER_DISCOVERYD | WORKER_PLAYERD),
	KEY(state_dir, WORKER_MQTTD | WORKER_PLAYERD),
	KEY(runtime_dir, 0),
	KEY(cache_dir, WORKER_HTTPD),
	KEY(tts_voice, WORKER_HTTPD),
	KEY(max_text_length, WORKER_MQTTD | WORKER_HTTPD),
	KEY(request_expiry_s, WORKER_MQTTD),
	/* log_level restarts nobody: every health survey carries it (common/health.c) */
	KEY(log_level, 0),
	KEY(restart_intensity, 0),
	KEY(restart_period_s, 0),
	KEY(restart_stable_s, 0),
	KEY(household, WORKER_DISCOVERYD),
	KEY(search_interval_s, WORKER_DISCOVERYD),
	KEY(hass_discovery_prefix, WORKER_MQTTD),
	KEY(hass_remove_after_s, WORKER_MQTTD),
	KEY(status_page, WORKER_HTTPD),
	KEY(state_poll_ms, WORKER_PLAYERD),
	KEY(announce_all, WORKER_PLAYERD),
	KEY(chime_url, WORKER_PLAYERD),
	KEY(broker_tls, WORKER_MQTTD),
	KEY(broker_tls_verify, WORKER_MQTTD),
	KEY(broker_cafile, WORKER_MQTTD),
	KEY(broker_capath, WORKER_MQTTD),
	KEY(broker_certfile, WORKER_MQTTD),
	KEY(broker_keyfile, WORKER_MQTTD),
	KEY(broker_username, WORKER_MQTTD),
	KEY(broker_password, WORKER_MQTTD),
	KEY(broker_password_file, WORKER_MQTTD),
};

unsigned
reload_affected(const struct config *old, const struct config *cur)
{
	struct config a, b;
	unsigned mask = 0;

	a = *old;
	b = *cur;
	for (size_t i = 0; i < sizeof(reload_keys) / sizeof(reload_keys[0]); i++) {
		const struct reload_key *k = &reload_keys[i];

		if (memcmp((char *)&a + k->offset, (char *)&b + k->offset, k->size) != 0)
			mask |= k->workers;
		/* Known keys compared: make them equal so that only unknown ones remain. */
		memcpy((char *)&a + k->offset, (char *)&b + k->offset, k->size);
	}
	if (memcmp(&a, &b, sizeof(a)) != 0)
		mask = WORKER_ALL;
	return mask;
}

enum health_verdict
health_judge(const struct health_round *r)
{
	int short_of_workers = r->conns_at_send < 0 || (unsigned)r->conns_at_send < r->surveyed;
	int deaf;

	if (r->surveyed == 0 || r->missed == 0)
		return HEALTH_COUNT;
	if (r->grace > 0 && short_of_workers)
		return HEALTH_FORGIVE;
	deaf = (r->surveyed >= 2 && r->missed == r->surveyed) ||
	       (r->missed_again > 0 && short_of_workers);
	if (deaf && r->since_reopen >= HEALTH_REOPEN_ROUNDS)
		return HEALTH_REOPEN;
	return HEALTH_COUNT;
}
