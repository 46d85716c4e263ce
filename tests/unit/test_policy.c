/* test_policy.c -- the supervisor's pure parts: restart delay and intensity, which workers a
 * new configuration concerns, and what the CLI makes of a status document. */
#include "check.h"
#include "config.h"
#include "health.h"
#include "orphans.h"
#include "policy.h"
#include "report.h"

#include <stdlib.h>

/* With the default configuration, a worker that dies at once every time must make the bridge
 * give up (exit 3) within a few minutes: the doubling delay must not outgrow the window. */
static void
test_crash_loop_gives_up(void)
{
	struct restart_policy p;
	struct restart_history h = {0};
	struct config cfg;
	uint64_t now = 0, delay = 0;
	int gave_up = 0;

	config_defaults(&cfg);
	restart_policy_from_config(&p, &cfg);
	for (int i = 0; i < 100 && !gave_up; i++) {
		now += 50; /* it ran 50 ms */
		gave_up = restart_record(&p, &h, now);
		delay = restart_delay(&p, 50, delay);
		now += delay;
	}
	CHECK(gave_up);
	CHECK(now < 5 * 60 * 1000);
}

static void
test_restart(void)
{
	struct restart_policy p;
	struct restart_history h = {0};
	uint64_t d = 0;

	restart_policy_defaults(&p);
	/* A worker that had been up for a while restarts at once. */
	CHECK_INT(restart_delay(&p, p.stable_ms, 8000), 0);
	/* One that dies quickly waits, doubling up to the cap. */
	d = restart_delay(&p, 100, 0);
	CHECK_INT(d, p.min_delay_ms);
	d = restart_delay(&p, 100, d);
	CHECK_INT(d, 2 * p.min_delay_ms);
	for (int i = 0; i < 20; i++)
		d = restart_delay(&p, 100, d);
	CHECK_INT(d, p.max_delay_ms);

	/* intensity restarts in the window are tolerated; one more is not. */
	for (unsigned i = 0; i < p.intensity; i++)
		CHECK_INT(restart_record(&p, &h, 1000 + i), 0);
	CHECK_INT(restart_record(&p, &h, 2000), 1);
	/* Restarts spread out beyond the window never add up. */
	h.count = 0;
	for (unsigned i = 0; i < 5 * p.intensity; i++)
		CHECK_INT(restart_record(&p, &h, (uint64_t)i * (p.period_ms / 2)), 0);
	/* The highest intensity the configuration allows is exact too: that many restarts in
	 * the window are tolerated, one more trips (the history once held 32 and never did). */
	p.intensity = CONFIG_RESTART_INTENSITY_MAX;
	h.count = 0;
	for (unsigned i = 0; i < p.intensity; i++)
		CHECK_INT(restart_record(&p, &h, 1000 + i), 0);
	CHECK_INT(restart_record(&p, &h, 5000), 1);
}

static void
test_reload(void)
{
	struct config a, b;

	config_defaults(&a);
	b = a;
	CHECK_INT(reload_affected(&a, &b), 0);
	b.broker_port = 1884;
	CHECK_INT(reload_affected(&a, &b), WORKER_MQTTD);
	b = a;
	b.http_port = 9000;
	CHECK_INT(reload_affected(&a, &b), WORKER_PLAYERD | WORKER_HTTPD);
	b = a;
	snprintf(b.speakers, sizeof(b.speakers), "10.0.0.2");
	CHECK_INT(reload_affected(&a, &b), WORKER_DISCOVERYD);
	/* Keys more than one worker reads restart each of them. */
	b = a;
	b.max_text_length = 50;
	CHECK_INT(reload_affected(&a, &b), WORKER_MQTTD | WORKER_HTTPD);
	b = a;
	snprintf(b.base_topic, sizeof(b.base_topic), "house");
	CHECK_INT(reload_affected(&a, &b), WORKER_MQTTD | WORKER_HTTPD);
	b = a;
	snprintf(b.advertise_host, sizeof(b.advertise_host), "192.168.1.2");
	CHECK_INT(reload_affected(&a, &b), WORKER_DISCOVERYD | WORKER_PLAYERD);
	b = a;
	b.discovery_timeout_ms = 5000;
	CHECK_INT(reload_affected(&a, &b), WORKER_DISCOVERYD | WORKER_PLAYERD);
	b = a;
	/* The log level reaches the workers with the health survey: nobody restarts for it. */
	b.log_level = 3;
	CHECK_INT(reload_affected(&a, &b), 0);
	/* The supervisor's own keys restart nobody. */
	b = a;
	b.restart_intensity = 99;
	b.restart_stable_s = 1;
	CHECK_INT(reload_affected(&a, &b), 0);
}

#define DOC_OK                                                                                 \
	"{\"version\":\"0.1.0\",\"pid\":10,\"uptime_ms\":65000,\"stopping\":false,\"workers\":{" \
	"\"mqttd\":{\"state\":\"ready\",\"pid\":11,\"uptime_ms\":65000,\"restarts\":0,"        \
	"\"last_exit\":null,\"health\":{\"broker_connected\":true,\"broker\":\"b:1883\"}},"     \
	"\"discoveryd\":{\"state\":\"ready\",\"pid\":12,\"restarts\":2,\"last_exit\":"         \
	"{\"signal\":9,\"signal_name\":\"KILL\"},\"health\":{\"speakers_known\":1,"            \
	"\"last_search_ago_ms\":4000,\"speakers\":[{\"room\":\"Kitchen\",\"uuid\":"            \
	"\"RINCON_1\",\"ip\":\"10.0.0.2\",\"port\":1400,\"model\":\"One\"}]}},"                 \
	"\"playerd\":{\"state\":\"ready\",\"pid\":13,\"health\":{\"queues\":[{\"speaker\":"    \
	"\"Kitchen\",\"queued\":2,\"busy\":true}]}},"                                           \
	"\"httpd\":{\"state\":\"ready\",\"pid\":14,\"health\":{\"cache_entries\":3,"           \
	"\"cache_bytes\":4096,\"requests_served\":7}}}}"

static void
test_verdict(void)
{
	char why[256], doc[2048];
	struct strbuf out = STRBUF_INIT;

	CHECK_INT(report_verdict(DOC_OK, strlen(DOC_OK), why, sizeof(why)), 0);
	CHECK_STR(why, "healthy: 4 workers ready, broker connected, 1 speakers");

	snprintf(doc, sizeof(doc), "%s", DOC_OK);
	memcpy(strstr(doc, "\"broker_connected\":true"), "\"broker_connected\":fals", 23);
	/* "fals" is not JSON: a document that does not parse is unhealthy, not a crash. */
	CHECK_INT(report_verdict(doc, strlen(doc), why, sizeof(why)), 1);

	snprintf(doc, sizeof(doc), "%s", DOC_OK);
	{
		char *p = strstr(doc, "\"broker_connected\":true");

		memmove(p + 24, p + 23, strlen(p + 23) + 1);
		memcpy(p, "\"broker_connected\":false", 24);
	}
	CHECK_INT(report_verdict(doc, strlen(doc), why, sizeof(why)), 1);
	CHECK_STR(why, "mqttd is not connected to the broker b:1883");

	snprintf(doc, sizeof(doc), "%s", DOC_OK);
	memcpy(strstr(doc, "\"state\":\"ready\",\"pid\":14"), "\"state\":\"faild\"", 15);
	CHECK_INT(report_verdict(doc, strlen(doc), why, sizeof(why)), 1);
	CHECK(strncmp(why, "httpd is faild", 14) == 0);

	/* Every state but ready is unhealthy, each with its own reason. */
	{
		static const struct {
			const char *state, *why;
		} states[] = {
		    {"starting", "httpd is starting"},
		    {"unhealthy", "httpd is unhealthy: missed 0 health checks"},
		    {"backing-off", "httpd is backing-off (0 restarts, last exit: "},
		    {"failed", "httpd is failed (0 restarts, last exit: "},
		    {"stopped", "httpd is stopped (0 restarts, last exit: "},
		};
		char state[40];

		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			snprintf(doc, sizeof(doc), "%s", DOC_OK);
			snprintf(state, sizeof(state), "\"state\":\"%s\",\"pid\":14",
				 states[i].state);
			{
				char *p = strstr(doc, "\"state\":\"ready\",\"pid\":14");
				size_t old_len = strlen("\"state\":\"ready\",\"pid\":14");

				memmove(p + strlen(state), p + old_len, strlen(p + old_len) + 1);
				memcpy(p, state, strlen(state));
			}
			CHECK_INT(report_verdict(doc, strlen(doc), why, sizeof(why)), 1);
			CHECK(strncmp(why, states[i].why, strlen(states[i].why)) == 0);
		}
	}
	snprintf(doc, sizeof(doc), "%s", DOC_OK);
	memcpy(strstr(doc, "\"stopping\":false"), "\"stopping\":true ", 16);
	CHECK_INT(report_verdict(doc, strlen(doc), why, sizeof(why)), 1);
	CHECK_STR(why, "the bridge is stopping");

	CHECK_INT(report_verdict("", 0, why, sizeof(why)), 1);
	CHECK_INT(report_verdict("[1,2]", 5, why, sizeof(why)), 1);
	CHECK_INT(report_verdict("{\"workers\":{}}", 14, why, sizeof(why)), 1);
	CHECK_INT(report_verdict("{\"workers\":{\"mqttd\":{\"state\":\"ready\"}}}", 39, why,
				 sizeof(why)),
		  1);
	CHECK_STR(why, "mqttd has not answered a health check yet");
	/* Hostile shapes: wrong types everywhere are reported, never trusted. */
	CHECK_INT(report_verdict("{\"workers\":{\"mqttd\":7,\"x\":[]}}", 30, why, sizeof(why)), 1);

	CHECK_INT(report_table(DOC_OK, strlen(DOC_OK), &out), 0);
	CHECK(strstr(out.s, "sonos-bridge 0.1.0 (pid 10), up 1m05s") != NULL);
	CHECK(strstr(out.s, "discoveryd  ready") != NULL);
	CHECK(strstr(out.s, "signal KILL") != NULL);
	CHECK(strstr(out.s, "1 speakers, last search 4s ago") != NULL);
	CHECK(strstr(out.s, "Kitchen: playing") == NULL); /* no request id: shown as busy */
	CHECK(strstr(out.s, "Kitchen: busy, 2 queued") != NULL);
	CHECK(strstr(out.s, "3 clips (4 KiB), 7 requests served") != NULL);
	CHECK(strstr(out.s, "10.0.0.2:1400") != NULL);
	strbuf_free(&out);
	CHECK_INT(report_table("{}", 2, &out), -1);
	strbuf_free(&out);
}

static void
test_duration(void)
{
	char s[32];

	report_duration(850, s, sizeof(s));
	CHECK_STR(s, "850ms");
	report_duration(42000, s, sizeof(s));
	CHECK_STR(s, "42s");
	report_duration(192000, s, sizeof(s));
	CHECK_STR(s, "3m12s");
	report_duration(5 * 3600000ULL + 7 * 60000, s, sizeof(s));
	CHECK_STR(s, "5h07m");
	report_duration(2 * 86400000ULL + 3 * 3600000ULL, s, sizeof(s));
	CHECK_STR(s, "2d03h");
}

/* Worker facts are written by hand as JSON: strings from the network must stay strings. */
static void
test_json_string(void)
{
	struct strbuf b = STRBUF_INIT;

	health_json_string(&b, "Living \"Room\"\\\n\x01");
	CHECK_STR(b.s, "\"Living \\\"Room\\\"\\\\\\u000a\\u0001\"");
	strbuf_free(&b);
	health_json_string(&b, "K\xc3\xbc" "che");
	CHECK_STR(b.s, "\"K\xc3\xbc" "che\""); /* valid UTF-8 kept */
	strbuf_free(&b);
	health_json_string(&b, "bad\xff\xc3");
	CHECK_STR(b.s, "\"bad\\ufffd\\ufffd\"");
	strbuf_free(&b);
	health_json_string(&b, "");
	CHECK_STR(b.s, "\"\"");
	strbuf_free(&b);
}

/* The pid file of a dead supervisor: only well-formed "name pid" lines count, never pid 0
 * or 1 (kill(0) or kill(1) would be a disaster), whatever the file holds. */
static void
test_orphans_parse(void)
{
	struct orphan o[4];

	CHECK_INT(orphans_parse("mqttd 123\nplayerd 456\n", o, 4), 2);
	CHECK_STR(o[0].name, "mqttd");
	CHECK_INT(o[0].pid, 123);
	CHECK_STR(o[1].name, "playerd");
	CHECK_INT(o[1].pid, 456);
	CHECK_INT(orphans_parse("mqttd 0\nhttpd 1\nhttpd -5\nx\n\nhttpd 77 junk\n", o, 4), 0);
	CHECK_INT(orphans_parse("httpd 99", o, 4), 1); /* no final newline */
	CHECK_INT(o[0].pid, 99);
	CHECK_INT(orphans_parse("a 2\nb 3\nc 4\nd 5\ne 6\n", o, 4), 4);
	CHECK_INT(orphans_parse("averyveryverylongworkername 12\n", o, 4), 0);
	CHECK_INT(orphans_parse("", o, 4), 0);
}

/* The supervisor's reading of a health round (health_judge). */
static void
test_health_judge(void)
{
	const uint32_t never = UINT32_MAX;
	struct health_round r;

	/* All answered, or nobody asked: nothing to forgive or reopen. */
	r = (struct health_round){.surveyed = 4, .missed = 0, .conns_at_send = 4, .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	r = (struct health_round){.surveyed = 0, .missed = 0, .conns_at_send = 0, .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	/* One worker silent while connected (stopped, hung loop): its miss counts. */
	r = (struct health_round){.surveyed = 4, .missed = 1, .missed_again = 1, .conns_at_send = 4,
				  .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	/* Every worker silent at once: the supervisor's socket is suspected first. */
	r = (struct health_round){.surveyed = 4, .missed = 4, .conns_at_send = 4, .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_REOPEN);
	/* ... but not with a single worker to go by. */
	r = (struct health_round){.surveyed = 1, .missed = 1, .conns_at_send = 1, .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	/* ... and not again within HEALTH_REOPEN_ROUNDS: real hangs still get counted. */
	r.surveyed = 4, r.missed = 4, r.conns_at_send = 4, r.since_reopen = HEALTH_REOPEN_ROUNDS - 1;
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	r.since_reopen = HEALTH_REOPEN_ROUNDS;
	CHECK_INT(health_judge(&r), HEALTH_REOPEN);
	/* A worker that cannot dial in (socket file gone, listener stuck): one miss counts, the
	 * second with fewer connections than workers reopens. */
	r = (struct health_round){.surveyed = 4, .missed = 1, .conns_at_send = 3, .since_reopen = never};
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	r.missed_again = 1;
	CHECK_INT(health_judge(&r), HEALTH_REOPEN);
	r.since_reopen = 3;
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	/* Just after a reopen: surveys that left before everyone dialled again are forgiven, for
	 * HEALTH_REOPEN_GRACE rounds only; with everyone connected, misses count. */
	r = (struct health_round){.surveyed = 4, .missed = 4, .missed_again = 4, .conns_at_send = 0,
				  .since_reopen = 1, .grace = HEALTH_REOPEN_GRACE};
	CHECK_INT(health_judge(&r), HEALTH_FORGIVE);
	r.grace = 0;
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
	r.grace = 1, r.conns_at_send = 4, r.missed = 1, r.missed_again = 1;
	CHECK_INT(health_judge(&r), HEALTH_COUNT);
}

int
main(void)
{
	test_restart();
	test_crash_loop_gives_up();
	test_reload();
	test_verdict();
	test_duration();
	test_json_string();
	test_orphans_parse();
	test_health_judge();
	CHECK_DONE();
}
