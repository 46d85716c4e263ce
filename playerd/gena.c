/* gena.c -- one GENA subscription per speaker and service (and one ZoneGroupTopology
 * subscription per household), driven by a one-second tick: SUBSCRIBE, renew at half the
 * granted timeout, a fresh SUBSCRIBE after a 412 or expiry, UNSUBSCRIBE when a speaker leaves
 * or the bridge stops. Every exchange is one bounded HTTP request on the thread pool; at most
 * GENA_JOBS_MAX run at once. */
#include "gena.h"
#include "http_client.h"
#include "lastchange.h"
#include "livestate.h"
#include "log.h"
#include "soap.h"
#include "strbuf.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#define GENA_TICK_MS 1000
#define GENA_IO_TIMEOUT_MS 3000  /* one SUBSCRIBE, renewal or UNSUBSCRIBE */
#define GENA_STOP_WINDOW_MS 2000 /* unsubscribing at stop ends after this */
#define GENA_JOBS_MAX 4
#define GENA_RETRY_MAX_MS 60000
#define GENA_HOUSEHOLDS_MAX 16 /* ZoneGroupTopology subscriptions, one per household */
#define GENA_SUBS_MAX (2 * MSG_SPEAKERS_MAX + GENA_HOUSEHOLDS_MAX)
#define GENA_STRAYS 8            /* unknown SIDs already unsubscribed, remembered */
#define GENA_WARN_EVERY_MS 60000 /* malformed events: one warning per subscription per minute */
#define GENA_REORDER_WINDOW 16   /* an event this far behind the last one is a late one */
#define GENA_STRANGERS 16        /* addresses already warned about, remembered */

enum gena_op { GENA_SUBSCRIBE, GENA_RENEW, GENA_UNSUBSCRIBE };

/* One subscription: a speaker's service. */
struct gena_sub {
	int used;
	char uuid[48];
	char room[64];
	char household[64];
	enum soap_service svc; /* SOAP_AVTRANSPORT, SOAP_RENDERING or SOAP_TOPOLOGY */
	char ip[46];           /* where it is (or is to be) subscribed */
	uint16_t port;
	uint32_t bootseq;
	char sid[128];      /* "" when not subscribed */
	char callback[256]; /* the URL the speaker was given */
	uint64_t sid_ms;    /* when sid was granted (util_mono_ms) */
	uint64_t renew_ms, expires_ms;
	uint64_t event_ms;     /* last NOTIFY for sid; 0: none yet */
	uint32_t seq;          /* SEQ of that NOTIFY */
	uint64_t retry_ms;     /* no SUBSCRIBE before this */
	int failures;          /* in a row, for the backoff */
	int busy;              /* an exchange is in flight */
	int moved;             /* the speaker moved or rebooted while busy */
	int gone;              /* the speaker left the table */
	int warned;            /* said once that no event came */
	uint64_t malformed_ms; /* last warning about a malformed event */
	uint64_t poll_ms;      /* last poll decided for this speaker (RenderingControl sub) */
	struct msg_gena_notify *early; /* a NOTIFY that beat its SUBSCRIBE answer */
};

/* One exchange on the thread pool. sub is NULL for an UNSUBSCRIBE that outlives its sub. */
struct gena_job {
	uv_work_t work;
	struct gena_sub *sub;
	enum gena_op op;
	enum soap_service svc;
	char room[64];
	char ip[46];
	uint16_t port;
	char sid[128];
	char callback[256];
	uint64_t not_after_ms; /* 0, or skip the exchange after this (stopping) */
	/* Results. */
	int rv;     /* 0, or a negative errno */
	int status; /* HTTP status */
	char new_sid[128];
	int timeout_s;
};

static struct {
	uv_loop_t *loop;
	const struct config *cfg;
	uv_timer_t tick;
	int started, stopping;
	uint64_t stop_deadline_ms;
	void (*topology_changed)(void);
	int jobs;
	struct gena_sub subs[GENA_SUBS_MAX];
	char strays[GENA_STRAYS][128];
	int nstray;
	char strangers[GENA_STRANGERS][48]; /* NOTIFY sources already warned about */
	int nstranger;
	unsigned long stranger_count; /* NOTIFYs dropped: not from the speaker's address */
} G;

static const char *
gena_event_path(enum soap_service svc)
{
	return svc == SOAP_AVTRANSPORT ? "/MediaRenderer/AVTransport/Event"
	       : svc == SOAP_TOPOLOGY  ? "/ZoneGroupTopology/Event"
	                               : "/MediaRenderer/RenderingControl/Event";
}

/* "Second-N" (N >= 1) or "infinite"; anything else gives the default we asked for. */
static int
gena_parse_timeout(const char *v)
{
	long n;
	char *end;

	if (strncasecmp(v, "Second-", 7) != 0)
		return GENA_TIMEOUT_S;
	n = strtol(v + 7, &end, 10);
	if (*end != '\0' || n < 1)
		return GENA_TIMEOUT_S;
	return n > 86400 ? 86400 : (int)n;
}

static void
gena_work_cb(uv_work_t *w)
{
	struct gena_job *j = w->data;
	const char *method = j->op == GENA_UNSUBSCRIBE ? "UNSUBSCRIBE" : "SUBSCRIBE";
	char h1[300], h2[64], value[160];
	const char *headers[4] = {h1, NULL, NULL, NULL};
	struct http_response resp;
	int timeout_ms = GENA_IO_TIMEOUT_MS;
	uint64_t now = util_mono_ms();

	/* Stopping: every exchange ends by the deadline, however many speakers hang. */
	if (j->not_after_ms != 0) {
		if (now >= j->not_after_ms) {
			j->rv = -ETIMEDOUT;
			return;
		}
		if (j->not_after_ms - now < (uint64_t)timeout_ms)
			timeout_ms = (int)(j->not_after_ms - now);
	}
	snprintf(h2, sizeof(h2), "TIMEOUT: Second-%d", GENA_TIMEOUT_S);
	if (j->op == GENA_SUBSCRIBE) {
		snprintf(h1, sizeof(h1), "CALLBACK: <%s>", j->callback);
		headers[1] = "NT: upnp:event";
		headers[2] = h2;
	} else {
		snprintf(h1, sizeof(h1), "SID: %s", j->sid);
		if (j->op == GENA_RENEW)
			headers[1] = h2;
	}
	j->rv = http_request(method, j->ip, j->port, gena_event_path(j->svc), headers, NULL, 0,
	                     timeout_ms, 4096, &resp);
	if (j->rv < 0)
		return;
	j->status = resp.status;
	if (http_header_value(resp.head, resp.head_len, "SID", value, sizeof(value)) > 0 &&
	    strlen(value) < sizeof(j->new_sid))
		memcpy(j->new_sid, value, strlen(value) + 1);
	j->timeout_s = GENA_TIMEOUT_S;
	if (http_header_value(resp.head, resp.head_len, "TIMEOUT", value, sizeof(value)) > 0)
		j->timeout_s = gena_parse_timeout(value);
	http_response_free(&resp);
}

static void gena_after_cb(uv_work_t *w, int status);

/* Queue one exchange; sub (may be NULL) is busy until it ends. Returns 0 or -1. */
static int
gena_queue(struct gena_sub *sub, enum gena_op op, enum soap_service svc, const char *room,
           const char *ip, uint16_t port, const char *sid)
{
	struct gena_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->sub = sub;
	j->op = op;
	j->svc = svc;
	msg_strlcpy(j->room, room, sizeof(j->room));
	msg_strlcpy(j->ip, ip, sizeof(j->ip));
	j->port = port;
	msg_strlcpy(j->sid, sid, sizeof(j->sid));
	if (sub != NULL)
		msg_strlcpy(j->callback, sub->callback, sizeof(j->callback));
	if (G.stopping)
		j->not_after_ms = G.stop_deadline_ms;
	j->work.data = j;
	if (uv_queue_work(G.loop, &j->work, gena_work_cb, gena_after_cb) != 0) {
		free(j);
		return -1;
	}
	G.jobs++;
	if (sub != NULL)
		sub->busy = 1;
	return 0;
}

/* The URL the speaker is to send events to. Returns 0 or -1 (no route to it). */
static int
gena_callback(struct gena_sub *s)
{
	char host[CONFIG_STR_MAX];

	if (G.cfg->advertise_host[0] != '\0')
		msg_strlcpy(host, G.cfg->advertise_host, sizeof(host));
	else if (util_route_source(s->ip, host, sizeof(host)) < 0)
		return -1;
	snprintf(s->callback, sizeof(s->callback), "http://%s:%d/gena/%s/%s", host,
	         G.cfg->http_port, s->uuid, soap_service_name(s->svc));
	return 0;
}

/* Forget the subscription (not the speaker): events no longer count until a new one. */
static void
gena_drop(struct gena_sub *s)
{
	s->sid[0] = '\0';
	s->event_ms = 0;
	if (s->svc != SOAP_TOPOLOGY)
		livestate_forget(s->uuid, s->svc);
}

static uint64_t
gena_backoff_ms(int failures)
{
	uint64_t ms = 1000;

	for (int i = 0; i < failures && ms < GENA_RETRY_MAX_MS; i++)
		ms *= 2;
	return ms < GENA_RETRY_MAX_MS ? ms : GENA_RETRY_MAX_MS;
}

static void gena_apply(struct gena_sub *s, const struct msg_gena_notify *m);

static void
gena_subscribed(struct gena_sub *s, struct gena_job *j, uint64_t now)
{
	int fresh = j->op == GENA_SUBSCRIBE;

	if (fresh) {
		msg_strlcpy(s->sid, j->new_sid, sizeof(s->sid));
		s->sid_ms = now;
		s->event_ms = 0;
		log_info("%s: %s events subscribed (%s, %d s) to %s", s->room,
		         soap_service_name(s->svc), s->sid, j->timeout_s, s->callback);
	} else {
		log_debug("%s: %s subscription %s renewed for %d s", s->room,
		          soap_service_name(s->svc), s->sid, j->timeout_s);
	}
	s->failures = 0;
	s->expires_ms = now + (uint64_t)j->timeout_s * 1000;
	s->renew_ms = now + (uint64_t)j->timeout_s * 500;
	if (fresh && s->early != NULL && strcmp(s->early->sid, s->sid) == 0)
		gena_apply(s, s->early);
	free(s->early);
	s->early = NULL;
}

static void
gena_failed(struct gena_sub *s, struct gena_job *j, uint64_t now)
{
	char why[64];

	if (j->rv < 0)
		snprintf(why, sizeof(why), "%s", strerror(-j->rv));
	else if (j->new_sid[0] == '\0' && j->status == 200)
		snprintf(why, sizeof(why), "no SID in the answer");
	else
		snprintf(why, sizeof(why), "HTTP %d", j->status);
	if (j->op == GENA_RENEW && j->status == 412) {
		/* The speaker no longer knows the SID (it rebooted or let it expire). */
		log_info("%s: %s renewal of %s refused (412), subscribing again", s->room,
		         soap_service_name(s->svc), s->sid);
		gena_drop(s);
		s->retry_ms = now;
		return;
	}
	s->failures++;
	if (j->op == GENA_RENEW) {
		log_debug("%s: %s renewal of %s: %s", s->room, soap_service_name(s->svc), s->sid,
		          why);
		s->renew_ms = now + gena_backoff_ms(s->failures);
		return;
	}
	if (s->failures == 1)
		log_warnx("%s: %s events: SUBSCRIBE at %s: %s; polling meanwhile", s->room,
		          soap_service_name(s->svc), s->ip, why);
	else
		log_debug("%s: %s events: SUBSCRIBE: %s (%d in a row)", s->room,
		          soap_service_name(s->svc), why, s->failures);
	s->retry_ms = now + gena_backoff_ms(s->failures);
	free(s->early);
	s->early = NULL;
}

static void
gena_after_cb(uv_work_t *w, int status)
{
	struct gena_job *j = w->data;
	struct gena_sub *s = j->sub;
	uint64_t now = util_mono_ms();
	int ok = status == 0 && j->rv == 0 && j->status == 200 &&
	         (j->op != GENA_SUBSCRIBE || j->new_sid[0] != '\0');

	G.jobs--;
	if (j->op == GENA_UNSUBSCRIBE) {
		log_debug("%s: %s UNSUBSCRIBE %s: %s", j->room, soap_service_name(j->svc), j->sid,
		          j->rv < 0 ? strerror(-j->rv)
		          : ok      ? "done"
		                    : "refused");
		if (s != NULL)
			s->busy = 0;
		free(j);
		return;
	}
	s->busy = 0;
	if (G.stopping || s->gone || s->moved) {
		/* A SID granted to a speaker we no longer follow there: give it back. */
		if (ok && j->op == GENA_SUBSCRIBE)
			gena_queue(NULL, GENA_UNSUBSCRIBE, j->svc, j->room, j->ip, j->port,
			           j->new_sid);
		if (s->moved && !G.stopping) {
			s->moved = 0;
			gena_drop(s);
			s->retry_ms = now;
		}
		free(j);
		return;
	}
	if (ok)
		gena_subscribed(s, j, now);
	else
		gena_failed(s, j, now);
	free(j);
}

/* 1 if events of s arrive: subscribed, not expired, and at least one NOTIFY came. */
static int
gena_live(const struct gena_sub *s, uint64_t now)
{
	return s != NULL && s->sid[0] != '\0' && s->event_ms != 0 && now < s->expires_ms;
}

static struct gena_sub *
gena_find(const char *uuid, enum soap_service svc)
{
	for (int i = 0; i < GENA_SUBS_MAX; i++)
		if (G.subs[i].used && G.subs[i].svc == svc && strcmp(G.subs[i].uuid, uuid) == 0)
			return &G.subs[i];
	return NULL;
}

/* Once per speaker: subscribed, but nothing came back in GENA_SILENT_MS. */
static void
gena_check_silent(struct gena_sub *s, uint64_t now)
{
	struct gena_sub *other;

	/* The topology's events come from a speaker whose own events are watched already. */
	if (s->svc == SOAP_TOPOLOGY || s->warned || s->sid[0] == '\0' || s->event_ms != 0 ||
	    now - s->sid_ms < GENA_SILENT_MS)
		return;
	s->warned = 1;
	other = gena_find(s->uuid, s->svc == SOAP_AVTRANSPORT ? SOAP_RENDERING : SOAP_AVTRANSPORT);
	if (other != NULL && other->warned)
		return;
	log_warnx("speaker %s never sent events to %s; check advertise_host (polling every %d ms "
	          "instead)",
	          s->room, s->callback, G.cfg->state_poll_ms);
}

static void
gena_tick_one(struct gena_sub *s, uint64_t now)
{
	if (s->busy || G.jobs >= GENA_JOBS_MAX)
		return;
	if (s->gone) {
		if (s->sid[0] != '\0')
			gena_queue(NULL, GENA_UNSUBSCRIBE, s->svc, s->room, s->ip, s->port, s->sid);
		free(s->early);
		memset(s, 0, sizeof(*s));
		return;
	}
	if (s->sid[0] != '\0' && now >= s->expires_ms) {
		log_info("%s: %s subscription %s expired", s->room, soap_service_name(s->svc),
		         s->sid);
		gena_drop(s);
		s->retry_ms = now;
	}
	if (s->sid[0] == '\0') {
		if (now < s->retry_ms)
			return;
		if (gena_callback(s) < 0) {
			s->failures++;
			s->retry_ms = now + gena_backoff_ms(s->failures);
			return;
		}
		gena_queue(s, GENA_SUBSCRIBE, s->svc, s->room, s->ip, s->port, "");
		return;
	}
	gena_check_silent(s, now);
	if (now >= s->renew_ms)
		gena_queue(s, GENA_RENEW, s->svc, s->room, s->ip, s->port, s->sid);
}

static void
gena_tick_cb(uv_timer_t *t)
{
	uint64_t now = util_mono_ms();

	(void)t;
	for (int i = 0; i < GENA_SUBS_MAX; i++)
		if (G.subs[i].used)
			gena_tick_one(&G.subs[i], now);
}

/* A poll found a change these events never reported: renew now, which tells whether the
 * speaker still holds the subscription (a 412 starts a fresh one). A speaker that lost one
 * subscription has most likely lost both: both are checked. */
static void
gena_stale(const char *uuid, enum soap_service svc)
{
	for (int i = 0; i < GENA_SUBS_MAX; i++) {
		struct gena_sub *s = &G.subs[i];

		if (!s->used || strcmp(s->uuid, uuid) != 0 || s->sid[0] == '\0' || G.stopping)
			continue;
		if (s->svc == svc)
			log_info("%s: a poll found a change no %s event reported: renewing to "
			         "check the subscriptions",
			         s->room, soap_service_name(svc));
		s->renew_ms = util_mono_ms();
	}
}

int
gena_start(uv_loop_t *loop, const struct config *cfg, nng_socket events,
           int (*group_busy)(const char *coordinator), void (*topology_changed)(void))
{
	G.loop = loop;
	G.cfg = cfg;
	G.topology_changed = topology_changed;
	xmlInitParser(); /* once, here, before pool threads and this loop both parse */
	livestate_start(events, group_busy, gena_stale);
	uv_timer_init(loop, &G.tick);
	uv_timer_start(&G.tick, gena_tick_cb, GENA_TICK_MS, GENA_TICK_MS);
	G.started = 1;
	return 0;
}

/* Follow one speaker's service: a new slot, or the old one at a new address or boot. */
static void
gena_follow(const struct msg_speaker *sp, enum soap_service svc)
{
	struct gena_sub *s = gena_find(sp->uuid, svc);
	int moved;

	if (s == NULL) {
		for (int i = 0; i < GENA_SUBS_MAX && s == NULL; i++)
			if (!G.subs[i].used)
				s = &G.subs[i];
		if (s == NULL)
			return;
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->svc = svc;
		msg_strlcpy(s->uuid, sp->uuid, sizeof(s->uuid));
		msg_strlcpy(s->ip, sp->ip, sizeof(s->ip));
		s->port = sp->port;
		s->bootseq = sp->bootseq;
	}
	msg_strlcpy(s->room, sp->room, sizeof(s->room));
	msg_strlcpy(s->household, sp->household, sizeof(s->household));
	s->gone = 0;
	/* A boot counter learnt for the first time (0 before the topology) is no reboot. */
	moved = strcmp(s->ip, sp->ip) != 0 || s->port != sp->port ||
	        (s->bootseq != 0 && sp->bootseq != 0 && s->bootseq != sp->bootseq);
	if (sp->bootseq != 0 && s->bootseq == 0)
		s->bootseq = sp->bootseq;
	if (!moved)
		return;
	log_info("%s: %s:%u boot %u now (was %s:%u boot %u): subscribing again", sp->room, sp->ip,
	         sp->port, sp->bootseq, s->ip, s->port, s->bootseq);
	if (s->sid[0] != '\0' && !s->busy)
		gena_queue(NULL, GENA_UNSUBSCRIBE, svc, s->room, s->ip, s->port, s->sid);
	if (s->busy)
		s->moved = 1;
	else
		gena_drop(s);
	msg_strlcpy(s->ip, sp->ip, sizeof(s->ip));
	s->port = sp->port;
	s->bootseq = sp->bootseq;
	s->failures = 0;
	s->retry_ms = 0;
}

/* One ZoneGroupTopology subscription per household, on one of its speakers: it stays on the
 * one that holds it while that one is in the table, and moves to the household's first speaker
 * in the table when it leaves (the old one is then given back like any gone speaker's). */
static void
gena_follow_topology(const struct msg_speaker *table, int count)
{
	for (int i = 0; i < count; i++) {
		int first = 1, h = i;

		for (int k = 0; k < i && first; k++)
			first = strcmp(table[k].household, table[i].household) != 0;
		if (!first)
			continue; /* this household was handled at its first speaker */
		for (int k = i; k < count; k++)
			if (strcmp(table[k].household, table[i].household) == 0 &&
			    gena_find(table[k].uuid, SOAP_TOPOLOGY) != NULL) {
				h = k;
				break;
			}
		gena_follow(&table[h], SOAP_TOPOLOGY);
	}
}

void
gena_speakers(const struct msg_speaker *table, int count)
{
	livestate_speakers(table, count);
	if (G.stopping)
		return;
	for (int i = 0; i < GENA_SUBS_MAX; i++)
		G.subs[i].gone = G.subs[i].used;
	for (int i = 0; i < count; i++) {
		gena_follow(&table[i], SOAP_AVTRANSPORT);
		gena_follow(&table[i], SOAP_RENDERING);
	}
	gena_follow_topology(table, count);
}

/* Parse and apply a NOTIFY that belongs to s. */
static void
gena_apply(struct gena_sub *s, const struct msg_gena_notify *m)
{
	struct lastchange lc;
	char err[160];
	uint64_t now = util_mono_ms();

	/* Two NOTIFYs on two connections can swap places; an older one is dropped. A big step
	 * back is no reordering (a counter that wrapped, a speaker that started over). */
	if (s->event_ms != 0 && m->seq <= s->seq && s->seq - m->seq < GENA_REORDER_WINDOW) {
		log_debug("%s: %s event %u after %u: out of order, dropped", s->room,
		          soap_service_name(s->svc), m->seq, s->seq);
		return;
	}
	if (s->event_ms == 0 && s->warned)
		log_info("%s: %s events arrive now", s->room, soap_service_name(s->svc));
	s->event_ms = now;
	if (s->svc == SOAP_TOPOLOGY) {
		/* Groups or rooms changed (or this is the initial event): discoveryd reads the
		 * ZoneGroupState again, which it does at most once a second. The body is not
		 * needed for that; parsing it stays with discoveryd's topology.c. */
		s->seq = m->seq;
		log_debug("%s: ZoneGroupTopology event %u (%u bytes): asking for the topology",
		          s->room, m->seq, m->body_len);
		if (G.topology_changed != NULL)
			G.topology_changed();
		return;
	}
	if (lastchange_parse(m->body, m->body_len, &lc, err, sizeof(err)) < 0) {
		if (now - s->malformed_ms >= GENA_WARN_EVERY_MS || s->malformed_ms == 0)
			log_warnx("%s: %s event %u dropped: %s", s->room, soap_service_name(s->svc),
			          m->seq, err);
		else
			log_debug("%s: %s event %u dropped: %s", s->room, soap_service_name(s->svc),
			          m->seq, err);
		s->malformed_ms = now;
		return;
	}
	s->seq = m->seq;
	log_debug("%s: %s event %u (%u bytes)%s%s", s->room, soap_service_name(s->svc), m->seq,
	          m->body_len, lc.have & LC_TRANSPORT ? " transport " : "",
	          lc.have & LC_TRANSPORT ? lc.transport : "");
	livestate_event(s->uuid, s->svc, &lc);
}

/* A NOTIFY for s from another address than s's: dropped before its SID or SEQ is looked at (a
 * SID can be guessed; a spoofed SEQ would make the speaker's own next events look late).
 * Warned about once per source address (the last GENA_STRANGERS remembered). */
static void
gena_stranger(const struct gena_sub *s, const struct msg_gena_notify *m)
{
	G.stranger_count++;
	for (int i = 0; i < GENA_STRANGERS; i++)
		if (strcmp(G.strangers[i], m->peer) == 0) {
			log_debug("NOTIFY from %s for %s %s: not its address %s, dropped", m->peer,
			          s->room, soap_service_name(s->svc), s->ip);
			return;
		}
	msg_strlcpy(G.strangers[G.nstranger], m->peer, sizeof(G.strangers[0]));
	G.nstranger = (G.nstranger + 1) % GENA_STRANGERS;
	log_warnx("NOTIFY from %s for %s %s: not the speaker's address %s; dropped (said once "
	          "per address)",
	          m->peer, s->room, soap_service_name(s->svc), s->ip);
}

/* A SID this bridge does not hold (from before a restart, say): give it back, once. */
static void
gena_stray(struct gena_sub *s, const char *sid)
{
	for (int i = 0; i < GENA_STRAYS; i++)
		if (strcmp(G.strays[i], sid) == 0)
			return;
	msg_strlcpy(G.strays[G.nstray], sid, sizeof(G.strays[0]));
	G.nstray = (G.nstray + 1) % GENA_STRAYS;
	log_debug("%s: %s event for unknown %s: unsubscribing it", s->room,
	          soap_service_name(s->svc), sid);
	if (G.jobs < GENA_JOBS_MAX)
		gena_queue(NULL, GENA_UNSUBSCRIBE, s->svc, s->room, s->ip, s->port, sid);
}

void
gena_notify(const struct msg_gena_notify *m)
{
	enum soap_service svc;
	struct gena_sub *s;

	if (strcmp(m->service, "AVTransport") == 0)
		svc = SOAP_AVTRANSPORT;
	else if (strcmp(m->service, "RenderingControl") == 0)
		svc = SOAP_RENDERING;
	else if (strcmp(m->service, "ZoneGroupTopology") == 0)
		svc = SOAP_TOPOLOGY;
	else {
		log_debug("NOTIFY for %s of %s: not a service of ours", m->service, m->uuid);
		return;
	}
	if (G.stopping || (s = gena_find(m->uuid, svc)) == NULL || s->gone) {
		log_debug("NOTIFY %s for %s: not a speaker of ours", m->sid, m->uuid);
		return;
	}
	if (!util_same_ipv4(m->peer, s->ip)) {
		gena_stranger(s, m);
		return;
	}
	if (strcmp(s->sid, m->sid) == 0) {
		gena_apply(s, m);
		return;
	}
	if (s->busy && s->sid[0] == '\0') {
		/* The initial event can overtake the SUBSCRIBE answer: keep it for a moment. */
		free(s->early);
		if ((s->early = malloc(sizeof(*m) + m->body_len)) != NULL)
			memcpy(s->early, m, sizeof(*m) + m->body_len);
		return;
	}
	gena_stray(s, m->sid);
}

int
gena_events_live(const struct msg_speaker *sp, const struct msg_speaker *co)
{
	uint64_t now = util_mono_ms();

	return gena_live(gena_find(sp->uuid, SOAP_RENDERING), now) &&
	       gena_live(gena_find(co->uuid, SOAP_AVTRANSPORT), now);
}

int
gena_event_since(const struct msg_speaker *sp, const struct msg_speaker *co, uint64_t since_ms)
{
	const struct gena_sub *rc = gena_find(sp->uuid, SOAP_RENDERING);
	const struct gena_sub *av = gena_find(co->uuid, SOAP_AVTRANSPORT);

	return (rc != NULL && rc->event_ms >= since_ms) || (av != NULL && av->event_ms >= since_ms);
}

int
gena_poll_due(const struct msg_speaker *sp, const struct msg_speaker *co)
{
	struct gena_sub *rc = gena_find(sp->uuid, SOAP_RENDERING);
	uint64_t now = util_mono_ms();
	/* The poll timer's own jitter must not skip a whole period. */
	uint64_t slack = G.cfg->state_poll_ms < 2000 ? (uint64_t)G.cfg->state_poll_ms / 2 : 1000;

	if (rc == NULL || !gena_live(rc, now) ||
	    !gena_live(gena_find(co->uuid, SOAP_AVTRANSPORT), now) ||
	    now - rc->poll_ms + slack >= GENA_LIVE_POLL_MS) {
		if (rc != NULL)
			rc->poll_ms = now;
		return 1;
	}
	return 0;
}

void
gena_health_facts(struct strbuf *out)
{
	uint64_t now = util_mono_ms();
	int subs = 0, live = 0, silent = 0, failing = 0;

	for (int i = 0; i < GENA_SUBS_MAX; i++) {
		const struct gena_sub *s = &G.subs[i];

		if (!s->used || s->gone)
			continue;
		subs++;
		live += gena_live(s, now);
		silent +=
		    s->sid[0] != '\0' && s->event_ms == 0 && now - s->sid_ms >= GENA_SILENT_MS;
		failing += s->sid[0] == '\0' && s->failures > 0;
	}
	strbuf_printf(out,
	              ",\"events\":{\"subscriptions\":%d,\"live\":%d,\"silent\":%d,"
	              "\"failing\":%d,\"strangers\":%lu}",
	              subs, live, silent, failing, G.stranger_count);
}

void
gena_stop(void)
{
	if (!G.started || G.stopping)
		return;
	G.stopping = 1;
	G.stop_deadline_ms = util_mono_ms() + GENA_STOP_WINDOW_MS;
	uv_close((uv_handle_t *)&G.tick, NULL);
	for (int i = 0; i < GENA_SUBS_MAX; i++) {
		struct gena_sub *s = &G.subs[i];

		if (s->used && !s->busy && s->sid[0] != '\0') {
			gena_queue(NULL, GENA_UNSUBSCRIBE, s->svc, s->room, s->ip, s->port, s->sid);
			s->sid[0] = '\0';
		}
	}
}

void
gena_close(void)
{
	for (int i = 0; i < GENA_SUBS_MAX; i++) {
		free(G.subs[i].early);
		G.subs[i].early = NULL;
	}
	livestate_close();
}
